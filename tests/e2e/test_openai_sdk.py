"""The official OpenAI Python SDK, sync and async, against a running Tollgate."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from tests.fakes.openai_server import WORDS, FakeOpenAI

Fake = tuple[FakeOpenAI, str]


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def aclient(gateway_url: str, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


def test_chat_non_streaming_relays_upstream_answer(client: openai.OpenAI, fake_openai: Fake) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hello"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "".join(WORDS)
    assert completion.model == "gpt-fake"
    assert completion.usage is not None and completion.usage.completion_tokens == len(WORDS)
    assert raw.headers["x-tollgate-backend"] == "fake-openai"
    assert raw.headers["x-request-id"].startswith("req_")
    assert float(raw.headers["x-tollgate-overhead-ms"]) >= 0
    assert fake_openai[0].state.requests[-1]["model"] == "gpt-upstream"


def test_every_parameter_and_unknown_fields_pass_through(client: openai.OpenAI, fake_openai: Fake) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    client.chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        n=2,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        response_format={"type": "json_object"},
        logprobs=True,
        top_logprobs=2,
        seed=7,
        stop=["\n"],
        user="u-1",
        temperature=0.5,
        extra_body={"repetition_penalty": 1.1, "guided_choice": ["a", "b"]},
    )
    sent = fake_openai[0].state.requests[-1]
    assert sent["n"] == 2 and sent["tools"] == tools and sent["seed"] == 7 and sent["stop"] == ["\n"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert sent["response_format"] == {"type": "json_object"} and sent["logprobs"] is True
    assert sent["top_logprobs"] == 2 and sent["user"] == "u-1" and sent["temperature"] == 0.5
    assert sent["repetition_penalty"] == 1.1 and sent["guided_choice"] == ["a", "b"]
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}


def test_stream_without_usage_request_hides_usage_but_upstream_was_asked(
    client: openai.OpenAI, fake_openai: Fake
) -> None:
    chunks = list(
        client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hello"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(WORDS)
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert fake_openai[0].state.requests[-1]["stream_options"] == {"include_usage": True}


def test_stream_with_usage_ends_with_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(WORDS)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {"gpt-fake"}


def test_stream_usage_counted_with_tiktoken_when_upstream_sends_none(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "count me trigger:nousage"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    # o200k_base: Hello| from| the| fake| Open|AI| upstream|.
    assert usage.completion_tokens == 8
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + 8


def test_legacy_completions(client: openai.OpenAI) -> None:
    done = client.completions.create(model="gpt-fake-completion", prompt="Say hi")
    assert done.choices[0].text == "".join(WORDS) and done.model == "gpt-fake-completion"
    streamed = list(
        client.completions.create(
            model="gpt-fake-completion", prompt="Say hi", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "".join(WORDS)
    assert streamed[-1].usage is not None


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="embed-fake", input=["a", "b"], encoding_format="float")
    assert [d.index for d in result.data] == [0, 1] and result.model == "embed-fake"
    assert result.usage.prompt_tokens == 6


def test_simulator_embeddings_base64_decode_to_unit_vectors(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="sim-embed", input="hello", dimensions=16)
    vector = result.data[0].embedding
    assert len(vector) == 16 and abs(sum(v * v for v in vector) - 1) < 1e-6
    raw = client.embeddings.with_raw_response.create(
        model="sim-embed", input="hello", dimensions=16, encoding_format="base64"
    ).http_response.json()
    decoded = struct.unpack("<16f", base64.b64decode(raw["data"][0]["embedding"]))
    assert max(abs(a - b) for a, b in zip(decoded, vector, strict=True)) < 1e-6


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"gpt-fake", "sim-chat", "sim-embed"} <= ids
    card = client.models.retrieve("sim-chat")
    assert card.id == "sim-chat" and card.owned_by == "tollgate-simulator"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_simulator_is_deterministic_and_usage_exact(client: openai.OpenAI) -> None:
    def ask() -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(model="sim-chat", messages=[{"role": "user", "content": "q1"}], seed=3)

    first, second = ask(), ask()
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.usage is not None
    text = first.choices[0].message.content or ""
    assert first.usage.completion_tokens == len(text.split())
    streamed = list(
        client.chat.completions.create(
            model="sim-chat",
            messages=[{"role": "user", "content": "q1"}],
            seed=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text
    assert streamed[-1].usage == first.usage


def test_simulator_tool_call(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    result = client.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "weather?"}], tools=tools, tool_choice="required"
    )
    call = result.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert result.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"


async def test_async_client_chat_and_stream(aclient: openai.AsyncOpenAI) -> None:
    done = await aclient.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "".join(WORDS)
    stream = await aclient.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=5
    )
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 5


async def test_async_embeddings_and_completions(aclient: openai.AsyncOpenAI) -> None:
    embedded = await aclient.embeddings.create(model="sim-embed", input=["x", "y", "z"])
    assert len(embedded.data) == 3
    completion = await aclient.completions.create(model="sim-chat", prompt="once upon", max_tokens=4)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
