"""AnthropicBackend against a local fake of Anthropic's Messages API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from backends.anthropic import AnthropicBackend, AnthropicConfig
from backends.base import Operation
from backends.http import build_client
from backends.http_client import HTTPClient
from gateway.core.errors import (
    InvalidRequest,
    UnsupportedOperation,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamUnreachable,
)
from tests.fakes.anthropic_server import API_KEY, RETRY_AFTER, FakeAnthropic, running_fake_anthropic
from tests.support.backend_harness import WEATHER_TOOL, backend_context, collect, streamed_text

JSON = dict[str, Any]


@pytest_asyncio.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with build_client() as http:
        yield http


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with running_fake_anthropic() as server:
        yield server


def make_backend(client: HTTPClient, base_url: str, api_key: str = API_KEY) -> AnthropicBackend:
    config = AnthropicConfig(api_key=api_key, base_url=base_url)
    ctx = backend_context(client)
    return AnthropicBackend.from_config("claude", config, ctx)


@pytest.fixture
def backend(client: HTTPClient, fake: FakeAnthropic) -> AnthropicBackend:
    return make_backend(client, fake.base_url)


def chat(text: str, **params: Any) -> JSON:
    return {"model": "claude-fake-1", "messages": [{"role": "user", "content": text}], **params}


@pytest.mark.asyncio
async def test_a_chat_request_is_answered_in_openai_shape(backend: AnthropicBackend, fake: FakeAnthropic) -> None:
    body = chat(
        "hello there",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
    )
    completion = await backend.request(Operation.CHAT, body)

    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-msg_")
    assert completion["model"] == "claude-fake-1"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there", "refusal": None}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["prompt_tokens"] == 4  # "Be brief." + "hello there"
    assert completion["usage"]["completion_tokens"] == 3
    [received] = fake.requests
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == API_KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.body["system"] == "Be brief."
    assert received.body["max_tokens"] == 4096
    assert "stream" not in received.body


@pytest.mark.asyncio
async def test_stop_sequences_and_max_tokens_end_the_answer(backend: AnthropicBackend) -> None:
    stopped = await backend.request(Operation.CHAT, chat("one two three", stop=["two"]))
    assert stopped["choices"][0]["message"]["content"] == "echo: one "
    assert stopped["choices"][0]["finish_reason"] == "stop"
    cut = await backend.request(Operation.CHAT, chat("one two three", max_tokens=2))
    assert cut["choices"][0]["message"]["content"] == "echo: one"
    assert cut["choices"][0]["finish_reason"] == "length"


@pytest.mark.asyncio
async def test_a_stream_yields_text_then_finish_then_a_usage_chunk(
    backend: AnthropicBackend, fake: FakeAnthropic
) -> None:
    chunks = await collect(backend, chat("stream me please", stream=True))

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert streamed_text(chunks) == "echo: stream me please"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 3
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert fake.requests[0].body["stream"] is True


@pytest.mark.asyncio
async def test_a_forced_tool_call_comes_back_as_tool_calls(backend: AnthropicBackend) -> None:
    body = chat("weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required")
    completion = await backend.request(Operation.CHAT, body)

    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "sample"}
    assert call["id"].startswith("toolu_")


@pytest.mark.asyncio
async def test_a_streamed_tool_call_arrives_in_argument_fragments(backend: AnthropicBackend) -> None:
    body = chat("weather?", tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    chunks = await collect(backend, body)

    calls = [d["tool_calls"][0] for c in chunks if c["choices"] and (d := c["choices"][0]["delta"]).get("tool_calls")]
    assert calls[0]["id"].startswith("toolu_")
    assert calls[0]["function"]["name"] == "get_weather"
    fragments = [call["function"]["arguments"] for call in calls]
    assert len([f for f in fragments if f]) > 1
    assert json.loads("".join(fragments)) == {"city": "sample"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.asyncio
async def test_a_tool_result_conversation_is_accepted_upstream(backend: AnthropicBackend) -> None:
    first = await backend.request(Operation.CHAT, chat("weather?", tools=[WEATHER_TOOL], tool_choice="required"))
    reply = first["choices"][0]["message"]
    body = {
        "model": "claude-fake-1",
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "weather?"},
            reply,
            {"role": "tool", "tool_call_id": reply["tool_calls"][0]["id"], "content": "18C and sunny"},
        ],
    }
    second = await backend.request(Operation.CHAT, body)
    assert second["choices"][0]["message"]["content"] == "tool said: 18C and sunny"


@pytest.mark.asyncio
async def test_prompt_cache_writes_then_reads_are_reported_in_usage(backend: AnthropicBackend) -> None:
    rules = {"type": "text", "text": "a b c d e f g h", "cache_control": {"type": "ephemeral"}}
    body = chat("question one", messages=[{"role": "system", "content": [rules]}, {"role": "user", "content": "q"}])

    written = (await backend.request(Operation.CHAT, body))["usage"]
    read = (await backend.request(Operation.CHAT, body))["usage"]

    assert (written["cache_creation_input_tokens"], written["cache_read_input_tokens"]) == (8, 0)
    assert written["prompt_tokens"] == 9
    assert (read["cache_creation_input_tokens"], read["cache_read_input_tokens"]) == (0, 8)
    assert read["prompt_tokens_details"] == {"cached_tokens": 8}
    assert read["prompt_tokens"] == 9


@pytest.mark.asyncio
async def test_a_refusal_of_the_operators_key_is_a_502_upstream_auth_failed(
    client: HTTPClient, fake: FakeAnthropic
) -> None:
    """The client's key was fine: it must not read Anthropic's verdict on the operator's."""
    backend = make_backend(client, fake.base_url, api_key="wrong")
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, chat("hi"))
    assert (caught.value.http_status, caught.value.code) == (502, "upstream_auth_failed")
    assert caught.value.error_type == "upstream_error"
    assert "x-api-key" not in caught.value.message and caught.value.detail == "invalid x-api-key"
    assert caught.value.upstream_status == 401  # what routing falls back on


@pytest.mark.asyncio
async def test_an_invalid_request_upstream_is_relayed_as_400(backend: AnthropicBackend) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, {"model": "m", "messages": [{"role": "user", "content": [image]}]})
    assert caught.value.http_status == 400
    assert caught.value.error_type == "invalid_request_error"
    assert "media_type" in caught.value.message


@pytest.mark.asyncio
async def test_a_rate_limit_keeps_the_retry_after_header(backend: AnthropicBackend) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, chat("[[rate_limit]]"))
    assert caught.value.http_status == 429
    assert caught.value.error_type == "rate_limit_error"
    assert caught.value.headers == {"retry-after": RETRY_AFTER}


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_overloaded_529_becomes_503(backend: AnthropicBackend, stream: bool) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        if stream:
            await collect(backend, chat("[[overloaded]]"))
        else:
            await backend.request(Operation.CHAT, chat("[[overloaded]]"))
    assert caught.value.http_status == 503
    assert caught.value.error_type == "overloaded_error"
    assert caught.value.message == "Overloaded"


@pytest.mark.asyncio
async def test_an_error_event_mid_stream_raises_after_the_first_chunks(backend: AnthropicBackend) -> None:
    received: list[JSON] = []
    with pytest.raises(UpstreamStatusError) as caught:
        async for chunk in backend.stream(Operation.CHAT, chat("[[stream_error]] hi")):
            received.append(chunk)
    assert received  # the role chunk and the first delta were relayed before the error
    assert caught.value.http_status == 503
    assert caught.value.error_type == "overloaded_error"


@pytest.mark.asyncio
async def test_a_connection_cut_mid_stream_is_an_upstream_failure(backend: AnthropicBackend) -> None:
    with pytest.raises((UpstreamUnreachable, UpstreamProtocolError)):
        await collect(backend, chat("[[break_stream]] hi"))


@pytest.mark.asyncio
async def test_a_stream_that_ends_without_message_stop_is_a_protocol_error(backend: AnthropicBackend) -> None:
    with pytest.raises(UpstreamProtocolError):
        await collect(backend, chat("[[truncate_stream]] hi"))


@pytest.mark.asyncio
async def test_closing_the_stream_early_closes_the_upstream_connection(
    backend: AnthropicBackend, fake: FakeAnthropic
) -> None:
    stream = backend.stream(Operation.CHAT, chat("[[slow]]"))
    assert isinstance(stream, AsyncGenerator)
    await anext(stream)
    await anext(stream)
    await stream.aclose()

    await asyncio.wait_for(fake.disconnected.wait(), timeout=5)
    assert fake.disconnects == 1


@pytest.mark.asyncio
async def test_requests_anthropic_cannot_honour_never_reach_it(backend: AnthropicBackend, fake: FakeAnthropic) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await backend.request(Operation.CHAT, chat("hi", n=2))
    assert caught.value.param == "n"
    with pytest.raises(UnsupportedOperation):
        await backend.request(Operation.EMBEDDINGS, {"model": "m", "input": "hi"})
    assert fake.requests == []


@pytest.mark.asyncio
async def test_only_chat_is_supported(backend: AnthropicBackend) -> None:
    assert backend.supports(Operation.CHAT)
    assert not backend.supports(Operation.COMPLETIONS)
    assert not backend.supports(Operation.EMBEDDINGS)


@pytest.mark.asyncio
async def test_ready_reflects_whether_the_upstream_answers(backend: AnthropicBackend, client: HTTPClient) -> None:
    assert await backend.ready()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert not await make_backend(client, f"http://127.0.0.1:{closed_port}/v1").ready()


def test_the_config_decodes_from_its_tagged_form() -> None:
    raw = b'{"type": "anthropic", "api_key": "k", "timeouts": {"read": 30}}'
    config = msgspec.json.decode(raw, type=AnthropicConfig)
    assert config.base_url == "https://api.anthropic.com/v1"
    assert config.anthropic_version == "2023-06-01"
    assert config.default_max_tokens == 4096
    assert config.timeouts.read == 30
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type": "anthropic", "api_key": "k", "bogus": 1}', type=AnthropicConfig)
