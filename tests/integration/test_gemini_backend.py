"""GeminiBackend against a local fake of Gemini's v1beta API."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from backends.base import Operation
from backends.gemini import GeminiBackend, GeminiConfig
from backends.http import build_client
from backends.http_client import HTTPClient
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from tests.fakes.gemini_server import (
    API_KEY,
    EMBEDDING_MODEL,
    IMAGE_TOKENS,
    IMPLICIT_CACHE_MIN,
    MODEL,
    RETRY_AFTER,
    FakeGemini,
    running_fake_gemini,
)
from tests.support.backend_harness import PNG_PIXEL, backend_context, collect, streamed_text

JSON = dict[str, Any]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest_asyncio.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with build_client() as http:
        yield http


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with running_fake_gemini() as server:
        yield server


def make_backend(client: HTTPClient, base_url: str, api_key: str = API_KEY) -> GeminiBackend:
    config = GeminiConfig(api_key=api_key, base_url=base_url)
    return GeminiBackend.from_config("gemini", config, backend_context(client))


@pytest.fixture
def backend(client: HTTPClient, fake: FakeGemini) -> GeminiBackend:
    return make_backend(client, fake.base_url)


def chat(text: str, **params: Any) -> JSON:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **params}


@pytest.mark.asyncio
async def test_a_chat_request_is_answered_in_openai_shape(backend: GeminiBackend, fake: FakeGemini) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
    completion = await backend.request(Operation.CHAT, chat("", messages=messages, temperature=0.2))

    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-resp")
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there", "refusal": None}
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (4, 3, 7)
    [received] = fake.requests
    assert received.path == f"/v1beta/models/{MODEL}:generateContent"
    assert received.headers["x-goog-api-key"] == API_KEY
    assert received.body == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.2},
    }


@pytest.mark.asyncio
async def test_stop_sequences_and_max_tokens_end_the_answer(backend: GeminiBackend) -> None:
    stopped = await backend.request(Operation.CHAT, chat("one two three", stop=["two"]))
    assert stopped["choices"][0]["message"]["content"] == "echo: one "
    assert stopped["choices"][0]["finish_reason"] == "stop"
    cut = await backend.request(Operation.CHAT, chat("one two three", max_tokens=2))
    assert cut["choices"][0]["message"]["content"] == "echo: one"
    assert cut["choices"][0]["finish_reason"] == "length"


@pytest.mark.asyncio
async def test_n_asks_for_several_candidates(backend: GeminiBackend, fake: FakeGemini) -> None:
    completion = await backend.request(Operation.CHAT, chat("hi", n=2))
    assert [c["index"] for c in completion["choices"]] == [0, 1]
    assert completion["choices"][1]["message"]["content"] == "echo: hi (1)"
    assert fake.requests[0].body["generationConfig"] == {"candidateCount": 2}


@pytest.mark.asyncio
async def test_a_stream_yields_text_then_finish_then_a_usage_chunk(backend: GeminiBackend, fake: FakeGemini) -> None:
    chunks = await collect(backend, chat("stream me please", stream=True))

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert streamed_text(chunks) == "echo: stream me please"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert (chunks[-1]["usage"]["prompt_tokens"], chunks[-1]["usage"]["completion_tokens"]) == (3, 4)
    assert fake.requests[0].path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert "stream" not in fake.requests[0].body


@pytest.mark.asyncio
async def test_a_forced_tool_call_round_trips_with_its_thought_signature(
    backend: GeminiBackend, fake: FakeGemini
) -> None:
    first = await backend.request(
        Operation.CHAT, chat("weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required")
    )
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "sample"}
    assert call["id"].startswith("call_") and choice["message"]["content"] is None
    sent = fake.requests[0].body
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["additionalProperties"] is False

    messages = [
        {"role": "user", "content": "weather in Paris?"},
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
    ]
    second = await backend.request(Operation.CHAT, {"model": MODEL, "tools": [WEATHER_TOOL], "messages": messages})
    assert second["choices"][0]["message"]["content"] == "tool said: 18C and sunny"
    turns = fake.requests[1].body["contents"]
    assert turns[1]["parts"][0]["thoughtSignature"] in fake.signatures
    assert turns[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C and sunny"}}}],
    }


@pytest.mark.asyncio
async def test_a_streamed_tool_call_arrives_whole_with_an_index(backend: GeminiBackend) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    chunks = await collect(backend, chat("weather?", tools=[WEATHER_TOOL], tool_choice=named))
    calls = [d["tool_calls"][0] for c in chunks if c["choices"] and (d := c["choices"][0]["delta"]).get("tool_calls")]
    assert len(calls) == 1 and calls[0]["index"] == 0 and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "sample"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.asyncio
async def test_images_go_inline_or_by_reference(backend: GeminiBackend, fake: FakeGemini) -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_PIXEL}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    completion = await backend.request(
        Operation.CHAT, {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    )
    assert completion["usage"]["prompt_tokens"] == 3 + 2 * IMAGE_TOKENS
    parts = fake.requests[0].body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG_PIXEL}}
    assert parts[2] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}}


@pytest.mark.asyncio
async def test_thinking_and_implicit_caching_are_in_the_usage(backend: GeminiBackend) -> None:
    rules = "rule " * IMPLICIT_CACHE_MIN
    messages = [{"role": "system", "content": rules}, {"role": "user", "content": "[[think]] q"}]
    first = await backend.request(Operation.CHAT, chat("", messages=messages))
    second = await backend.request(Operation.CHAT, chat("", messages=messages))
    assert first["choices"][0]["message"]["content"] == "echo: [[think]] q"  # the thought part is left out
    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert second["usage"]["prompt_tokens_details"] == {"cached_tokens": IMPLICIT_CACHE_MIN}
    assert second["usage"]["prompt_tokens"] == IMPLICIT_CACHE_MIN + 2
    assert second["usage"]["completion_tokens"] == 3 + 5
    assert second["usage"]["completion_tokens_details"] == {"reasoning_tokens": 5}


@pytest.mark.asyncio
async def test_json_schema_response_format_constrains_the_answer(backend: GeminiBackend, fake: FakeGemini) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    completion = await backend.request(Operation.CHAT, chat("a number", response_format=response_format))
    assert json.loads(completion["choices"][0]["message"]["content"]) == {"n": 1}
    config = fake.requests[0].body["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


@pytest.mark.asyncio
async def test_safety_blocks_are_content_filter_or_a_400(backend: GeminiBackend) -> None:
    filtered = await backend.request(Operation.CHAT, chat("[[safety]]"))
    assert filtered["choices"][0]["finish_reason"] == "content_filter"
    for call in (backend.request(Operation.CHAT, chat("[[blocked]]")), collect(backend, chat("[[blocked]]"))):
        with pytest.raises(UpstreamStatusError) as caught:
            await call
        assert (caught.value.http_status, caught.value.code) == (400, "content_filter")


@pytest.mark.asyncio
async def test_embeddings_go_through_batch_embed_contents(backend: GeminiBackend, fake: FakeGemini) -> None:
    body = {"model": EMBEDDING_MODEL, "input": ["one two", "three"], "dimensions": 4}
    answer = await backend.request(Operation.EMBEDDINGS, body)
    assert [len(item["embedding"]) for item in answer["data"]] == [4, 4]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert fake.requests[0].path == f"/v1beta/models/{EMBEDDING_MODEL}:batchEmbedContents"
    packed = await backend.request(Operation.EMBEDDINGS, {**body, "encoding_format": "base64"})
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack("<4f", raw)) == pytest.approx(answer["data"][0]["embedding"])


@pytest.mark.asyncio
async def test_more_than_a_hundred_inputs_go_in_batches_of_a_hundred(backend: GeminiBackend, fake: FakeGemini) -> None:
    texts = [f"text {i}" for i in range(250)]
    answer = await backend.request(Operation.EMBEDDINGS, {"model": EMBEDDING_MODEL, "input": texts})
    assert [item["index"] for item in answer["data"]] == list(range(250))
    assert [len(r.body["requests"]) for r in fake.requests] == [100, 100, 50]
    assert fake.requests[2].body["requests"][0]["content"] == {"parts": [{"text": "text 200"}]}


@pytest.mark.asyncio
async def test_a_wrong_api_key_is_a_502_upstream_auth_failed(client: HTTPClient, fake: FakeGemini) -> None:
    """Gemini says 400 API_KEY_INVALID; the client's key was fine, so it must not read that."""
    backend = make_backend(client, fake.base_url, api_key="wrong")
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, chat("hi"))
    assert (caught.value.http_status, caught.value.code) == (502, "upstream_auth_failed")
    assert caught.value.upstream_status == 401


@pytest.mark.asyncio
async def test_an_invalid_request_upstream_is_relayed_as_400(backend: GeminiBackend) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, {"model": MODEL, "messages": [{"role": "user", "content": [image]}]})
    assert (caught.value.http_status, caught.value.error_type) == (400, "invalid_request_error")
    assert caught.value.code == "invalid_argument" and "image/tiff" in caught.value.message


@pytest.mark.asyncio
async def test_an_unknown_model_is_a_404(backend: GeminiBackend) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, {**chat("hi"), "model": "gemini-nope"})
    assert (caught.value.http_status, caught.value.code) == (404, "not_found")


@pytest.mark.asyncio
@pytest.mark.parametrize("stream", [False, True])
async def test_rate_limits_keep_the_retry_delay_and_overload_is_503(backend: GeminiBackend, stream: bool) -> None:
    call = (
        collect(backend, chat("[[rate_limit]]")) if stream else backend.request(Operation.CHAT, chat("[[rate_limit]]"))
    )
    with pytest.raises(UpstreamStatusError) as caught:
        await call
    assert (caught.value.http_status, caught.value.error_type) == (429, "rate_limit_error")
    assert caught.value.headers == {"retry-after": RETRY_AFTER}
    with pytest.raises(UpstreamStatusError) as overloaded:
        await backend.request(Operation.CHAT, chat("[[unavailable]]"))
    assert (overloaded.value.http_status, overloaded.value.code) == (503, "unavailable")


@pytest.mark.asyncio
async def test_an_error_event_mid_stream_raises_after_the_first_chunks(backend: GeminiBackend) -> None:
    received: list[JSON] = []
    with pytest.raises(UpstreamStatusError) as caught:
        async for chunk in backend.stream(Operation.CHAT, chat("[[stream_error]] hi")):
            received.append(chunk)
    assert received and caught.value.http_status == 503


@pytest.mark.asyncio
async def test_a_stream_that_ends_without_a_finish_reason_is_a_protocol_error(backend: GeminiBackend) -> None:
    with pytest.raises(UpstreamProtocolError):
        await collect(backend, chat("[[truncate_stream]] hi"))


@pytest.mark.asyncio
async def test_closing_the_stream_early_closes_the_upstream_connection(
    backend: GeminiBackend, fake: FakeGemini
) -> None:
    stream = backend.stream(Operation.CHAT, chat("[[slow]]"))
    assert isinstance(stream, AsyncGenerator)
    await anext(stream)
    await anext(stream)
    await stream.aclose()
    for _ in range(250):
        if fake.disconnects:
            break
        await asyncio.sleep(0.02)
    assert fake.disconnects == 1


@pytest.mark.asyncio
async def test_requests_gemini_cannot_honour_never_reach_it(backend: GeminiBackend, fake: FakeGemini) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await backend.request(Operation.CHAT, chat("hi", logprobs=True))
    assert caught.value.param == "logprobs"
    with pytest.raises(InvalidRequest):
        await backend.request(Operation.EMBEDDINGS, {"model": EMBEDDING_MODEL, "input": [1, 2, 3]})
    assert fake.requests == []
    assert backend.supports(Operation.EMBEDDINGS) and not backend.supports(Operation.COMPLETIONS)


@pytest.mark.asyncio
async def test_ready_reflects_whether_the_upstream_answers(backend: GeminiBackend, client: HTTPClient) -> None:
    assert await backend.ready()
    assert not await make_backend(client, "http://127.0.0.1:9/v1beta").ready()


def test_the_config_decodes_from_its_tagged_form() -> None:
    config = msgspec.json.decode(b'{"type": "gemini", "api_key": "k", "timeouts": {"read": 30}}', type=GeminiConfig)
    assert config.base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert config.timeouts.read == 30
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type": "gemini", "api_key": "k", "bogus": 1}', type=GeminiConfig)
