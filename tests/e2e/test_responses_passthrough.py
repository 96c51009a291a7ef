"""``/v1/responses`` passed through to a deployment that serves it (an ``openai_compatible`` backend
with ``responses: true``, the fake OpenAI behind it), through the official OpenAI Python SDK: the body
goes upstream as sent (model swapped, unknown fields kept, ``store: false``), the answer comes back in
the upstream's shape with the gateway's id, usage priced exactly as chat and metered once as
``responses``, streams relayed event by event, responses stored and chained by the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GPT_FAKE_PRICES
from tests.fakes.openai_server import API_KEY, WORDS, FakeOpenAI
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.responses_stream import leave_after_two_words
from tests.support.usage_events import count_events, wait_for_event

DRAIN_WAIT = 30.0  # seconds for the journal drain to write a usage event, on a loaded machine
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


class Gateway:
    def __init__(self, url: str, key: str, database: Path, fake: FakeOpenAI) -> None:
        self.url, self.key, self.database, self.fake = url, key, database, fake

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.key, max_retries=0)

    def sent(self) -> dict[str, Any]:
        """The last body the fake upstream received."""
        return self.fake.state.requests[-1]


@pytest.fixture(scope="module")
def gateway(fake_openai: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("passthrough")
    fake, url = fake_openai
    config = {
        "backends": {
            "native": {"type": "openai_compatible", "base_url": url, "api_key": API_KEY, "responses": True},
            "chat-only": {"type": "openai_compatible", "base_url": url, "api_key": API_KEY},
            "dead": {"type": "openai_compatible", "base_url": f"http://127.0.0.1:{free_port()}/v1", "responses": True},
        },
        "models": [
            {
                "name": "gpt-native",
                "deployments": [{"backend": "native", "model": "gpt-up"}],
                "pricing": GPT_FAKE_PRICES,
                "cache": {"exact": True},  # deterministic requests (temperature 0, a seed) are cached
            },
            {
                "name": "gpt-chat",
                "deployments": [{"backend": "chat-only", "model": "gpt-up"}],
                "pricing": GPT_FAKE_PRICES,
            },
            {
                "name": "gpt-fallback",  # the first deployment is down: the second answers
                "deployments": [{"backend": "dead", "model": "gpt-up"}, {"backend": "native", "model": "gpt-up"}],
                "pricing": GPT_FAKE_PRICES,
            },
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }
    key = create_key(config, workdir, "acme")
    with running_gateway(config, workdir) as gateway_url:
        yield Gateway(gateway_url, key, workdir / "tollgate.db", fake)


def _cost(usage: Any) -> Decimal:
    return Decimal(str(usage.model_extra["cost"]))


def test_a_plain_response_is_passed_through_priced_as_chat_and_metered_once_as_responses(gateway: Gateway) -> None:
    client = gateway.client()
    raw = client.responses.with_raw_response.create(
        model="gpt-native", input="Hello trigger:cached", max_output_tokens=64, extra_body={"seed": 7}
    )
    response = raw.parse()

    sent = gateway.sent()
    assert sent["model"] == "gpt-up" and sent["seed"] == 7 and sent["store"] is False
    assert sent["input"] == "Hello trigger:cached" and "messages" not in sent  # not translated
    request_id = raw.headers["x-request-id"]
    assert response.id.startswith("resp_" + request_id.removeprefix("req_"))
    assert (response.model, response.status, response.store) == ("gpt-native", "completed", True)
    assert response.output_text == "".join(WORDS)
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.input_tokens_details.cached_tokens) == (11, 8)
    assert (usage.output_tokens, usage.output_tokens_details.reasoning_tokens) == (len(WORDS), 2)
    # 3 input at $2.50/M, 8 cached at $1.25/M, 7 output (2 of them reasoning) at $10/M: 87.5 µ$, rounded up.
    assert _cost(usage) == Decimal(raw.headers["x-tollgate-cost-usd"]) == Decimal("0.000088")
    event = wait_for_event(gateway.database, request_id, DRAIN_WAIT)
    assert (event["endpoint"], event["deployment"], event["cost_micros"]) == ("responses", "native", 88)
    assert (event["input_tokens"], event["cached_input_tokens"], event["reasoning_tokens"]) == (3, 8, 2)
    assert count_events(gateway.database, request_id) == 1

    translated = client.responses.with_raw_response.create(model="gpt-chat", input="Hello trigger:cached")
    assert "messages" in gateway.sent()  # the chat-only backend gets a chat completion
    assert _cost(translated.parse().usage) == _cost(usage)  # the same tokens, the same price
    translated_event = wait_for_event(gateway.database, translated.headers["x-request-id"], DRAIN_WAIT)
    assert translated_event["endpoint"] == "responses"


def test_a_stream_is_relayed_event_by_event_with_the_cost_in_the_last(gateway: Gateway) -> None:
    client = gateway.client()
    with client.responses.with_streaming_response.create(model="gpt-native", input="Hi", stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        lines = [line for line in raw.iter_lines() if line.startswith("event: ")]
    kinds = [line.removeprefix("event: ") for line in lines]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") == len(WORDS)
    assert kinds[-1] == "response.completed"
    assert gateway.sent()["stream"] is True and "stream_options" not in gateway.sent()

    with client.responses.stream(model="gpt-native", input="Hi again") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "".join(WORDS)
    assert final.usage is not None and _cost(final.usage) > 0 and final.model == "gpt-native"
    assert client.responses.retrieve(final.id).output_text == final.output_text  # stored by the gateway
    event = wait_for_event(gateway.database, request_id, DRAIN_WAIT)
    assert (event["endpoint"], event["outcome"], event["output_tokens"]) == ("responses", "ok", len(WORDS))
    assert count_events(gateway.database, request_id) == 1


def test_tools_and_previous_response_id_are_resolved_by_the_gateway(gateway: Gateway) -> None:
    client = gateway.client()
    first = client.responses.create(model="gpt-native", input="Look up lighthouse", tools=[LOOKUP])  # type: ignore[list-item]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "lookup" and call.arguments == '{"query": "lighthouse"}'

    output = {"type": "function_call_output", "call_id": call.call_id, "output": "a light on the coast"}
    second = client.responses.create(model="gpt-native", previous_response_id=first.id, input=[output], tools=[LOOKUP])  # type: ignore[list-item]
    sent = gateway.sent()
    assert "previous_response_id" not in sent and sent["store"] is False
    carried = [{"type": "input_text", "text": "Look up lighthouse"}]
    assert sent["input"][0]["content"] == carried  # the carried turns, then the new input
    assert sent["input"][1]["type"] == "function_call" and sent["input"][-1] == output
    assert second.output_text == "".join(WORDS) and second.previous_response_id == first.id
    items = client.responses.input_items.list(second.id, order="asc").data
    assert [item.type for item in items] == ["message", "function_call", "function_call_output"]


def test_store_false_keeps_nothing(gateway: Gateway) -> None:
    client = gateway.client()
    response = client.responses.create(model="gpt-native", input="Hi", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_an_invalid_answer_is_a_502_and_a_midstream_error_ends_the_stream(gateway: Gateway) -> None:
    client = gateway.client()
    with pytest.raises(openai.APIStatusError) as refused:
        client.responses.create(model="gpt-native", input="trigger:shapeless")
    assert refused.value.status_code == 502 and refused.value.code == "upstream_invalid_response"

    headers = {"authorization": f"Bearer {gateway.key}"}
    body = {"model": "gpt-native", "input": "trigger:midstream-error", "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/responses", json=body, headers=headers, timeout=30) as raw:
        request_id = raw.headers["x-request-id"]
        kinds = [line.removeprefix("event: ") for line in raw.iter_lines() if line.startswith("event: ")]
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    event = wait_for_event(gateway.database, request_id, DRAIN_WAIT)
    assert (event["endpoint"], event["outcome"]) == ("responses", "upstream_error")


def test_a_deterministic_response_is_answered_from_the_exact_cache(gateway: Gateway) -> None:
    client = gateway.client()
    ask: dict[str, Any] = {"model": "gpt-native", "input": "Spell harbour backwards", "temperature": 0}
    first = client.responses.with_raw_response.create(**ask)
    sent = len(gateway.fake.state.requests)
    second = client.responses.with_raw_response.create(**ask)
    assert (first.headers["x-tollgate-cache"], second.headers["x-tollgate-cache"]) == ("miss", "hit")
    assert len(gateway.fake.state.requests) == sent  # the hit never went upstream
    assert second.parse().output_text == first.parse().output_text and second.parse().id != first.parse().id
    assert client.responses.retrieve(second.parse().id).output_text == first.parse().output_text
    event = wait_for_event(gateway.database, second.headers["x-request-id"], DRAIN_WAIT)
    assert (event["endpoint"], event["cache_status"], event["deployment"]) == ("responses", "hit", "cache")
    with client.responses.stream(**ask) as stream:  # a passed-through stream always goes upstream
        assert stream.get_final_response().output_text == first.parse().output_text
    assert len(gateway.fake.state.requests) == sent + 1


def test_a_deployment_that_is_down_falls_back_to_the_next(gateway: Gateway) -> None:
    raw = gateway.client().responses.with_raw_response.create(model="gpt-fallback", input="Hi")
    assert raw.headers["x-tollgate-backend"] == "native" and gateway.sent()["input"] == "Hi"
    assert raw.parse().output_text == "".join(WORDS)


async def test_a_client_leaving_a_stream_is_billed_what_was_sent_once(gateway: Gateway) -> None:
    request_id = await leave_after_two_words(gateway.url, gateway.key, "gpt-native")
    event = await asyncio.to_thread(wait_for_event, gateway.database, request_id, DRAIN_WAIT)
    assert (event["endpoint"], event["outcome"], event["status"]) == ("responses", "client_disconnect", 499)
    assert event["output_tokens"] == 2 and event["input_tokens"] > 0
    assert count_events(gateway.database, request_id) == 1
