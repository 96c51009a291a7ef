"""BedrockBackend against a local fake of Bedrock Runtime's Converse API that verifies SigV4."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from backends.base import Operation
from backends.bedrock import BedrockBackend, BedrockConfig
from backends.http import build_client
from backends.http_client import HTTPClient
from gateway.core.errors import (
    InvalidRequest,
    UnsupportedOperation,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamUnreachable,
)
from tests.fakes.bedrock_server import (
    ACCESS_KEY,
    MODEL,
    PROFILE_ARN,
    REGION,
    RETIRED_MODEL,
    SECRET_KEY,
    FakeBedrock,
    running_fake_bedrock,
)
from tests.support.backend_harness import PNG_PIXEL, WEATHER_TOOL, backend_context, collect, streamed_text

JSON = dict[str, Any]


@pytest_asyncio.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with build_client() as http:
        yield http


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with running_fake_bedrock() as server:
        yield server


def make_backend(client: HTTPClient, endpoint: str, **keys: Any) -> BedrockBackend:
    credentials = {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY, **keys}
    config = BedrockConfig(aws_region=REGION, endpoint_url=endpoint, **credentials)
    return BedrockBackend.from_config("bedrock", config, backend_context(client))


@pytest.fixture
def backend(client: HTTPClient, fake: FakeBedrock) -> BedrockBackend:
    return make_backend(client, fake.endpoint_url)


def chat(text: str, model: str = MODEL, **params: Any) -> JSON:
    return {"model": model, "messages": [{"role": "user", "content": text}], **params}


async def test_a_signed_chat_is_answered_in_openai_shape(backend: BedrockBackend, fake: FakeBedrock) -> None:
    body = chat(
        "hello there", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
    )
    completion = await backend.request(Operation.CHAT, {**body, "max_tokens": 20, "temperature": 0.5})

    assert completion["object"] == "chat.completion" and completion["id"].startswith("chatcmpl-00000000-")
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there", "refusal": None}
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert (completion["usage"]["prompt_tokens"], completion["usage"]["completion_tokens"]) == (4, 3)
    [received] = fake.requests
    assert received.path == f"/model/{MODEL}/converse" and fake.rejected_signatures == 0
    assert received.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert received.body["system"] == [{"text": "Be brief."}]
    assert received.body["inferenceConfig"] == {"maxTokens": 20, "temperature": 0.5}


async def test_an_inference_profile_arn_is_signed_as_the_path_it_travels_in(
    backend: BedrockBackend, fake: FakeBedrock
) -> None:
    """The ARN's ``:`` and ``/`` are percent-encoded in the path; a client that sent them decoded
    would have signed another path than AWS reads."""
    completion = await backend.request(Operation.CHAT, chat("via a profile", model=PROFILE_ARN))
    assert completion["choices"][0]["message"]["content"] == "echo: via a profile"
    assert fake.requests[0].model_id == PROFILE_ARN and fake.rejected_signatures == 0


async def test_a_stream_yields_text_then_finish_then_usage(backend: BedrockBackend, fake: FakeBedrock) -> None:
    chunks = await collect(backend, chat("stream me please", stream=True))

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert streamed_text(chunks) == "echo: stream me please"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert fake.requests[0].path.endswith("/converse-stream")


async def test_tool_calls_plain_and_streamed_and_the_result_round_trip(backend: BedrockBackend) -> None:
    forced = chat("weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required")
    first = await backend.request(Operation.CHAT, forced)
    reply = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(reply["tool_calls"][0]["function"]["arguments"]) == {"city": "sample"}

    chunks = await collect(backend, forced)
    calls = [d["tool_calls"][0] for c in chunks if c["choices"] and (d := c["choices"][0]["delta"]).get("tool_calls")]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {"city": "sample"}

    follow_up = {
        "model": MODEL,
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "weather in Paris?"},
            reply,
            {"role": "tool", "tool_call_id": reply["tool_calls"][0]["id"], "content": "18C and sunny"},
        ],
    }
    second = await backend.request(Operation.CHAT, follow_up)
    assert second["choices"][0]["message"]["content"] == "tool said: 18C and sunny"


async def test_an_image_is_accepted_upstream(backend: BedrockBackend, fake: FakeBedrock) -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_PIXEL}"}}
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}]}
    completion = await backend.request(Operation.CHAT, body)
    assert completion["usage"]["prompt_tokens"] == 86  # one word and an image of 85
    assert fake.requests[0].body["messages"][0]["content"][1]["image"]["format"] == "png"


async def test_prompt_cache_writes_then_reads_are_reported_in_usage(backend: BedrockBackend) -> None:
    rules = {"type": "text", "text": "a b c d e f g h", "cache_control": {"type": "ephemeral"}}
    body = {"model": MODEL, "messages": [{"role": "system", "content": [rules]}, {"role": "user", "content": "q"}]}
    written = (await backend.request(Operation.CHAT, body))["usage"]
    read = (await backend.request(Operation.CHAT, body))["usage"]
    assert (written["cache_creation_input_tokens"], written["cache_read_input_tokens"], written["prompt_tokens"]) == (
        8,
        0,
        9,
    )
    assert (read["cache_creation_input_tokens"], read["prompt_tokens_details"], read["prompt_tokens"]) == (
        0,
        {"cached_tokens": 8},
        9,
    )


async def test_a_wrong_secret_fails_the_signature_and_is_the_operators_502(
    client: HTTPClient, fake: FakeBedrock
) -> None:
    backend = make_backend(client, fake.endpoint_url, secret_access_key="not-the-secret")
    with pytest.raises(UpstreamStatusError) as caught:
        await backend.request(Operation.CHAT, chat("hi"))
    assert (caught.value.http_status, caught.value.code) == (502, "upstream_auth_failed")
    assert "signature" in caught.value.detail and "signature" not in caught.value.message
    assert caught.value.upstream_status == 403 and fake.rejected_signatures == 1


async def test_a_session_token_is_sent_and_signed() -> None:
    async with running_fake_bedrock(session_token="temporary-token") as fake:
        http = build_client()
        try:
            with_token = make_backend(http, fake.endpoint_url, session_token="temporary-token")
            assert (await with_token.request(Operation.CHAT, chat("hi")))["choices"]
            assert fake.requests[-1].headers["X-Amz-Security-Token"] == "temporary-token"
            with pytest.raises(UpstreamStatusError):
                await make_backend(http, fake.endpoint_url).request(Operation.CHAT, chat("hi"))
        finally:
            await http.close()


async def test_keys_left_out_of_the_config_come_from_the_credential_chain(
    client: HTTPClient, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = BedrockConfig(aws_region=REGION, endpoint_url=fake.endpoint_url)
    backend = BedrockBackend.from_config("bedrock", config, backend_context(client))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(UpstreamError) as missing:
        await backend.request(Operation.CHAT, chat("hi"))
    assert missing.value.code == "upstream_auth_failed" and fake.requests == []

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    assert (await backend.request(Operation.CHAT, chat("from the environment")))["choices"]
    assert fake.rejected_signatures == 0


@pytest.mark.parametrize(
    ("text", "model", "status", "code"),
    [
        ("[[throttle]]", MODEL, 429, "ThrottlingException"),
        ("[[timeout]]", MODEL, 504, "ModelTimeoutException"),
        ("[[unavailable]]", MODEL, 503, "ServiceUnavailableException"),
        ("[[too_long]]", MODEL, 400, "context_length_exceeded"),
        ("hi", RETIRED_MODEL, 502, "ResourceNotFoundException"),
        ("hi", "no-such.model-v9", 400, "ValidationException"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_bedrock_exceptions_become_the_mapped_errors(
    backend: BedrockBackend, text: str, model: str, status: int, code: str, stream: bool
) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        if stream:
            await collect(backend, chat(text, model=model))
        else:
            await backend.request(Operation.CHAT, chat(text, model=model))
    assert (caught.value.http_status, caught.value.code) == (status, code)
    if status == 429:
        assert caught.value.headers == {"retry-after": "1"}


async def test_an_exception_frame_mid_stream_raises_after_the_first_chunks(backend: BedrockBackend) -> None:
    received: list[JSON] = []
    with pytest.raises(UpstreamStatusError) as caught:
        async for chunk in backend.stream(Operation.CHAT, chat("[[stream_exception]] hi")):
            received.append(chunk)
    assert streamed_text(received) == "echo: "
    assert (caught.value.http_status, caught.value.error_type) == (429, "rate_limit_error")


@pytest.mark.parametrize(
    ("trigger", "errors"),
    [
        ("[[bad_crc]]", UpstreamProtocolError),
        ("[[truncate_stream]]", UpstreamProtocolError),
        ("[[break_stream]]", (UpstreamUnreachable, UpstreamProtocolError)),
    ],
)
async def test_a_broken_event_stream_is_an_upstream_failure(
    backend: BedrockBackend, trigger: str, errors: type[Exception] | tuple[type[Exception], ...]
) -> None:
    with pytest.raises(errors):
        await collect(backend, chat(f"{trigger} hi"))


async def test_closing_the_stream_early_closes_the_upstream_connection(
    backend: BedrockBackend, fake: FakeBedrock
) -> None:
    stream = backend.stream(Operation.CHAT, chat("[[slow]]"))
    assert isinstance(stream, AsyncGenerator)
    await anext(stream)
    await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(fake.disconnected.wait(), timeout=5)
    assert fake.disconnects == 1


async def test_what_bedrock_cannot_do_never_reaches_it(backend: BedrockBackend, fake: FakeBedrock) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await backend.request(Operation.CHAT, chat("hi", n=2))
    assert caught.value.param == "n"
    with pytest.raises(UnsupportedOperation):
        await backend.request(Operation.EMBEDDINGS, {"model": MODEL, "input": "hi"})
    assert fake.requests == []
    assert backend.supports(Operation.CHAT) and not backend.supports(Operation.COMPLETIONS)


async def test_ready_reflects_whether_the_endpoint_answers(backend: BedrockBackend, client: HTTPClient) -> None:
    assert await backend.ready()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert not await make_backend(client, f"http://127.0.0.1:{closed_port}").ready()


def test_the_config_decodes_from_its_tagged_form() -> None:
    config = msgspec.json.decode(b'{"type": "bedrock", "aws_region": "eu-west-1", "region": "eu"}', type=BedrockConfig)
    assert (config.aws_region, config.region, config.access_key_id, config.endpoint_url) == (
        "eu-west-1",
        "eu",
        None,
        None,
    )
    with pytest.raises(msgspec.ValidationError, match="go together"):
        msgspec.json.decode(b'{"type": "bedrock", "aws_region": "x", "access_key_id": "k"}', type=BedrockConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type": "bedrock", "aws_region": "x", "bogus": 1}', type=BedrockConfig)
