"""One suite every backend type passes, through a real gateway and the official OpenAI Python SDK.

Each backend type is one :class:`BackendCase` in ``CASES``: how to start its local fake (or nothing,
for the simulator), the upstream model names it serves, and what it can do. The gateway serves
``<id>-chat`` and ``<id>-embed`` for every case at the same prices, so every test reads the same for
every backend: a plain chat, a streamed one with the usage chunk and ``usage.cost``, the same words
both ways, a tool round trip, embeddings, the upstream's 429 and 5xx as the OpenAI errors an SDK
expects, and one usage event per request that matches what the client was told.

Adding a backend type is one entry in ``CASES``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes import anthropic_server, azure_openai_server, bedrock_server, gemini_server
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.fakes.threaded import serve_in_thread
from tests.support.gateway_process import create_key, running_gateway
from tests.support.usage_events import wait_for_event

JSON = dict[str, Any]
NODE_DIR = Path(__file__).parents[1] / "node"
# Micro-dollars per token: $3 and $15 a million.
INPUT_MICROS, OUTPUT_MICROS = 3, 15
PRICES = {"input_per_mtok": str(INPUT_MICROS), "output_per_mtok": str(OUTPUT_MICROS)}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@dataclass(frozen=True)
class Fault:
    """A prompt that makes the upstream fail, and the HTTP status the client must get for it."""

    prompt: str
    status: int


@dataclass(frozen=True)
class BackendCase:
    id: str
    # Starts the backend's fake (stopped when the stack closes); returns its ``backends:`` entry.
    start: Callable[[ExitStack], JSON]
    chat_model: str
    embed_model: str | None = None  # None: the backend serves no embeddings
    tools: bool = False  # whether it calls a tool that ``tool_choice`` forces
    faults: tuple[Fault, ...] = ()


def _openai_compatible(stack: ExitStack) -> JSON:
    url = stack.enter_context(serve_in_thread(FakeOpenAI().app))
    return {"type": "openai_compatible", "base_url": f"{url}/v1", "api_key": API_KEY}


def _anthropic(stack: ExitStack) -> JSON:
    fake = anthropic_server.FakeAnthropic()
    url = stack.enter_context(serve_in_thread(anthropic_server.build_app(fake)))
    return {"type": "anthropic", "base_url": f"{url}/v1", "api_key": anthropic_server.API_KEY}


def _azure(stack: ExitStack) -> JSON:
    url = stack.enter_context(serve_in_thread(azure_openai_server.build_app(azure_openai_server.FakeAzureOpenAI())))
    return {"type": "azure", "endpoint": url, "api_key": azure_openai_server.API_KEY, "api_version": "2024-10-21"}


def _gemini(stack: ExitStack) -> JSON:
    url = stack.enter_context(serve_in_thread(gemini_server.build_app(gemini_server.FakeGemini())))
    return {"type": "gemini", "base_url": f"{url}/v1beta", "api_key": gemini_server.API_KEY}


def _bedrock(stack: ExitStack) -> JSON:
    fake = bedrock_server.FakeBedrock()
    url = stack.enter_context(serve_in_thread(bedrock_server.build_app(fake)))
    keys = {"access_key_id": bedrock_server.ACCESS_KEY, "secret_access_key": bedrock_server.SECRET_KEY}
    return {"type": "bedrock", "aws_region": bedrock_server.REGION, "endpoint_url": url, **keys}


CASES = [
    BackendCase(
        "openai_compatible",
        _openai_compatible,
        "gpt-upstream",
        embed_model="embed-upstream",
        faults=(Fault("trigger:429", 429), Fault("trigger:status:500", 500)),
    ),
    BackendCase(
        "anthropic",
        _anthropic,
        anthropic_server.MODEL,
        tools=True,
        faults=(Fault("[[rate_limit]]", 429), Fault("[[overloaded]]", 503)),
    ),
    BackendCase("simulator", lambda _: {"type": "simulator"}, "sim", embed_model="sim", tools=True),
    BackendCase(
        "azure",
        _azure,
        "gpt4o-prod",
        embed_model="embed-prod",
        tools=True,
        faults=(Fault("[[rate_limit]]", 429), Fault("[[server_error]]", 500)),
    ),
    BackendCase(
        "gemini",
        _gemini,
        gemini_server.MODEL,
        embed_model=gemini_server.EMBEDDING_MODEL,
        tools=True,
        faults=(Fault("[[rate_limit]]", 429), Fault("[[unavailable]]", 503)),
    ),
    BackendCase(
        "bedrock",
        _bedrock,
        bedrock_server.MODEL,
        tools=True,
        faults=(Fault("[[throttle]]", 429), Fault("[[unavailable]]", 503)),
    ),
]
FAULTS = [pytest.param(case, fault, id=f"{case.id}-{fault.status}") for case in CASES for fault in case.faults]


def _models(case: BackendCase) -> list[JSON]:
    models = [{"name": f"{case.id}-chat", "deployments": [{"backend": case.id, "model": case.chat_model}]}]
    if case.embed_model is not None:
        deployments = [{"backend": case.id, "model": case.embed_model}]
        models.append({"name": f"{case.id}-embed", "kind": "embeddings", "deployments": deployments})
    return [{**model, "pricing": PRICES} for model in models]


@dataclass(frozen=True)
class Gateway:
    url: str
    key: str
    client: openai.OpenAI
    database: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("conformance")
    with ExitStack() as stack:
        config = {
            "backends": {case.id: case.start(stack) for case in CASES},
            "models": [model for case in CASES for model in _models(case)],
            "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
            # Faults are asked for on purpose: no circuit may open on the next test.
            "routing": {"breaker": {"failures": 1000}},
        }
        key = create_key(config, workdir, "conformance")
        url = stack.enter_context(running_gateway(config, workdir))
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        yield Gateway(url, key, client, workdir / "tollgate.db")


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest) -> BackendCase:
    chosen: BackendCase = request.param
    return chosen


def _ask(text: str) -> list[Any]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]


def _charged(gateway: Gateway, request_id: str, prompt: int, completion: int) -> JSON:
    """The request's usage event, checked against the usage the client was told."""
    event = wait_for_event(gateway.database, request_id)
    assert (event["input_tokens"], event["output_tokens"]) == (prompt, completion)
    assert event["cost_micros"] == INPUT_MICROS * prompt + OUTPUT_MICROS * completion
    return event


def test_a_chat_is_answered_priced_and_metered(gateway: Gateway, case: BackendCase) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model=f"{case.id}-chat", messages=_ask("name three rivers"), max_tokens=64
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert completion.object == "chat.completion" and completion.model == f"{case.id}-chat"
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-tollgate-backend"] == case.id
    event = _charged(gateway, raw.headers["x-request-id"], usage.prompt_tokens, usage.completion_tokens)
    assert raw.headers["x-tollgate-cost-usd"] == f"{event['cost_micros'] / 1e6:.6f}"
    assert (event["outcome"], event["endpoint"], event["deployment"]) == ("ok", "chat/completions", case.id)


def test_a_stream_says_the_same_words_and_ends_with_usage_and_its_cost(gateway: Gateway, case: BackendCase) -> None:
    model, messages = f"{case.id}-chat", _ask("describe the sea")
    whole = gateway.client.chat.completions.create(model=model, messages=messages)
    raw = gateway.client.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(raw.parse())
    assert all(c.object == "chat.completion.chunk" and c.model == model for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.model_dump(include={"prompt_tokens", "completion_tokens"}) == whole.usage.model_dump(  # type: ignore[union-attr]
        include={"prompt_tokens", "completion_tokens"}
    )
    event = _charged(gateway, raw.headers["x-request-id"], usage.prompt_tokens, usage.completion_tokens)
    assert (usage.model_extra or {})["cost"] == event["cost_micros"] / 1e6 and event["streamed"]


def test_a_tool_call_round_trip(gateway: Gateway, case: BackendCase) -> None:
    if not case.tools:
        pytest.skip(f"{case.id} calls no tools")
    model, messages = f"{case.id}-chat", [{"role": "user", "content": "What is the weather in Paris?"}]
    first = gateway.client.chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert isinstance(json.loads(call.function.arguments), dict)
    second = gateway.client.chat.completions.create(
        model=model,
        tools=[WEATHER],  # type: ignore[list-item]
        messages=[  # type: ignore[list-item]
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
    )
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_embeddings_are_answered_and_metered(gateway: Gateway, case: BackendCase) -> None:
    if case.embed_model is None:
        pytest.skip(f"{case.id} serves no embeddings")
    raw = gateway.client.embeddings.with_raw_response.create(
        model=f"{case.id}-embed", input=["first sentence", "a second one"]
    )
    answer = raw.parse()
    assert [item.index for item in answer.data] == [0, 1]
    assert all(item.embedding and all(isinstance(v, float) for v in item.embedding) for item in answer.data)
    assert answer.model == f"{case.id}-embed" and answer.usage.prompt_tokens > 0
    event = _charged(gateway, raw.headers["x-request-id"], answer.usage.prompt_tokens, 0)
    assert event["endpoint"] == "embeddings"


@pytest.mark.parametrize(("case", "fault"), FAULTS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_upstream_failures_are_the_openai_errors_and_cost_nothing(
    gateway: Gateway, case: BackendCase, fault: Fault, stream: bool
) -> None:
    expected = openai.RateLimitError if fault.status == 429 else openai.InternalServerError
    with pytest.raises(expected) as caught:
        gateway.client.chat.completions.create(  # type: ignore[call-overload]
            model=f"{case.id}-chat", messages=_ask(fault.prompt), stream=stream
        )
    assert caught.value.status_code == fault.status
    body = caught.value.response.json()["error"]
    assert set(body) >= {"message", "type", "code"} and body["message"]
    if fault.status == 429:
        assert caught.value.response.headers.get("retry-after")
    event = wait_for_event(gateway.database, caught.value.response.headers["x-request-id"])
    assert (event["status"], event["outcome"], event["cost_micros"]) == (fault.status, "upstream_error", 0)


def test_the_node_sdk_reads_the_same_answer_plain_and_streamed(gateway: Gateway, case: BackendCase) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    env = {**os.environ, "TOLLGATE_URL": f"{gateway.url}/v1", "TOLLGATE_KEY": gateway.key, "MODEL": f"{case.id}-chat"}
    done = subprocess.run(
        [node, "chat_sdk.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    heard = json.loads(done.stdout)
    assert heard["text"] and heard["streamed"] == heard["text"]
    assert (heard["finish"], heard["streamedFinish"], heard["backend"]) == ("stop", "stop", case.id)
    assert heard["usage"]["completion_tokens"] > 0 and heard["usage"]["cost"] > 0
