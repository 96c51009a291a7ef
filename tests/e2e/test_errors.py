"""Every failure reaches the client in OpenAI's error envelope with the right status."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.support.gateway_process import create_key

Fake = tuple[FakeOpenAI, str]
USER = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
DEEP = b'{"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 200 + b"]" * 200 + b"}"

# (name, path, body (dict, or raw bytes), expected status, expected code, expected param)
BAD_INPUTS: list[tuple[str, str, Any, int, str | None, str | None]] = [
    ("malformed json", CHAT, b'{"model": "gpt-fake", "messages": [', 400, "invalid_json", None),
    ("json array body", CHAT, b"[1, 2]", 400, "invalid_json", None),
    ("empty body", CHAT, b"", 400, "invalid_json", None),
    # Each of these was a 500 with a traceback: RecursionError or UnicodeDecodeError out of the decoder.
    (
        "json nested past python's limit",
        CHAT,
        b'{"model": "gpt-fake", "x": ' + b"[" * 5_000,
        400,
        "invalid_json",
        None,
    ),
    ("json nested past the bound", CHAT, DEEP, 400, "invalid_json", None),
    ("embeddings json nested deep", EMBEDDINGS, b'{"input": ' + b"[" * 5_000, 400, "invalid_json", None),
    (
        "invalid utf-8",
        CHAT,
        b'{"model": "gpt-fake", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        400,
        "invalid_json",
        None,
    ),
    (
        "embeddings invalid utf-8",
        EMBEDDINGS,
        b'{"model": "embed-fake", "input": "\xc3\x28"}',
        400,
        "invalid_json",
        None,
    ),
    # A count like this overflowed the reservation's arithmetic on a key with a budget or credit.
    (
        "max_tokens 10^30",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "max_tokens": 10**30},
        400,
        "tokens_too_large",
        "max_tokens",
    ),
    (
        "max_completion_tokens 10^30",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "max_completion_tokens": 10**30},
        400,
        "tokens_too_large",
        "max_completion_tokens",
    ),
    (
        "completions max_tokens 10^30",
        "/v1/completions",
        {"model": "gpt-fake-completion", "prompt": "x", "max_tokens": 10**30},
        400,
        "tokens_too_large",
        "max_tokens",
    ),
    ("missing model", CHAT, {"messages": USER}, 400, "missing_required_parameter", "model"),
    ("missing messages", CHAT, {"model": "gpt-fake"}, 400, "missing_required_parameter", "messages"),
    ("messages not a list", CHAT, {"model": "gpt-fake", "messages": "hi"}, 400, "invalid_type", "messages"),
    ("empty messages", CHAT, {"model": "gpt-fake", "messages": []}, 400, "invalid_value", "messages"),
    (
        "unknown role",
        CHAT,
        {"model": "gpt-fake", "messages": [{"role": "wizard", "content": "x"}]},
        400,
        "invalid_value",
        "messages[0].role",
    ),
    (
        "message without role",
        CHAT,
        {"model": "gpt-fake", "messages": [{"content": "x"}]},
        400,
        "missing_required_parameter",
        "messages[0].role",
    ),
    (
        "user without content",
        CHAT,
        {"model": "gpt-fake", "messages": [{"role": "user"}]},
        400,
        "invalid_value",
        "messages[0].content",
    ),
    ("model not a string", CHAT, {"model": 42, "messages": USER}, 400, "invalid_type", "model"),
    (
        "temperature too high",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "temperature": 3},
        400,
        "invalid_value",
        "temperature",
    ),
    (
        "temperature a string",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "temperature": "hot"},
        400,
        "invalid_type",
        "temperature",
    ),
    ("n zero", CHAT, {"model": "gpt-fake", "messages": USER, "n": 0}, 400, "invalid_value", "n"),
    (
        "max_tokens negative",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "max_tokens": -5},
        400,
        "invalid_value",
        "max_tokens",
    ),
    ("top_p above one", CHAT, {"model": "gpt-fake", "messages": USER, "top_p": 1.5}, 400, "invalid_value", "top_p"),
    (
        "five stop sequences",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "stop": ["a", "b", "c", "d", "e"]},
        400,
        "invalid_value",
        "stop",
    ),
    (
        "stream not a boolean",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "stream": "yes"},
        400,
        "invalid_type",
        "stream",
    ),
    (
        "stream_options without stream",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "stream_options": {"include_usage": True}},
        400,
        "invalid_value",
        "stream_options",
    ),
    (
        "tool of unknown type",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "tools": [{"type": "magic"}]},
        400,
        "invalid_value",
        "tools[0].type",
    ),
    (
        "tool_choice names no tools",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "tool_choice": {"type": "function", "function": {"name": "f"}}},
        400,
        "invalid_value",
        "tool_choice",
    ),
    (
        "response_format unknown",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "response_format": {"type": "xml"}},
        400,
        "invalid_value",
        "response_format.type",
    ),
    (
        "top_logprobs without logprobs",
        CHAT,
        {"model": "gpt-fake", "messages": USER, "top_logprobs": 3},
        400,
        "invalid_value",
        "top_logprobs",
    ),
    (
        "tool message without id",
        CHAT,
        {"model": "gpt-fake", "messages": [{"role": "tool", "content": "42"}]},
        400,
        "invalid_value",
        "messages[0].tool_call_id",
    ),
    ("unknown model", CHAT, {"model": "gpt-nope", "messages": USER}, 404, "model_not_found", "model"),
    (
        "embeddings model for chat",
        CHAT,
        {"model": "embed-fake", "messages": USER},
        400,
        "unsupported_operation",
        "model",
    ),
    (
        "chat model for embeddings",
        "/v1/embeddings",
        {"model": "gpt-fake-completion", "input": "x"},
        400,
        "unsupported_operation",
        "model",
    ),
    ("embeddings empty input", "/v1/embeddings", {"model": "embed-fake", "input": ""}, 400, "invalid_value", "input"),
    (
        "embeddings mixed input",
        "/v1/embeddings",
        {"model": "embed-fake", "input": ["a", 1]},
        400,
        "invalid_value",
        "input",
    ),
    (
        "embeddings bad encoding",
        "/v1/embeddings",
        {"model": "embed-fake", "input": "a", "encoding_format": "hex"},
        400,
        "invalid_value",
        "encoding_format",
    ),
    (
        "completions without prompt",
        "/v1/completions",
        {"model": "gpt-fake-completion"},
        400,
        "missing_required_parameter",
        "prompt",
    ),
    (
        "completions prompt a number",
        "/v1/completions",
        {"model": "gpt-fake-completion", "prompt": 5},
        400,
        "invalid_type",
        "prompt",
    ),
    (
        "body over the size limit",
        CHAT,
        {"model": "gpt-fake", "messages": [{"role": "user", "content": "x" * 70000}]},
        413,
        "request_too_large",
        None,
    ),
    ("unknown endpoint", "/v1/chat/complete", {"model": "gpt-fake", "messages": USER}, 404, "not_found", None),
]


@pytest.mark.parametrize(
    ("name", "path", "body", "status", "code", "param"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input_is_refused_and_changes_nothing(
    gateway_url: str,
    api_key: str,
    fake_openai: Fake,
    name: str,
    path: str,
    body: Any,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    before = len(fake_openai[0].state.requests)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    response = httpx.post(f"{gateway_url}{path}", content=content, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["param"] == param and error["message"]
    assert error["type"] == "invalid_request_error"
    assert response.headers["x-request-id"].startswith("req_")
    assert len(fake_openai[0].state.requests) == before, "a refused request reached the upstream"


def test_wrong_method_is_405_in_envelope(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}{CHAT}")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


def test_upstream_timeout_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-impatient", messages=[{"role": "user", "content": "trigger:slow"}])
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"


def test_upstream_unreachable_is_502(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="gpt-dead", messages=USER, stream=stream)  # type: ignore[call-overload]
        assert caught.value.status_code == 502 and caught.value.code == "upstream_unreachable"


@pytest.mark.parametrize("status", [400, 404, 422, 500, 503])
def test_upstream_error_status_and_message_pass_through(client: openai.OpenAI, status: int) -> None:
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(  # type: ignore[call-overload]
                model="gpt-fake", messages=[{"role": "user", "content": f"trigger:status:{status}"}], stream=stream
            )
        assert caught.value.status_code == status
        assert caught.value.body["message"] == f"fake upstream refused with {status}"  # type: ignore[index]


def test_a_provider_refusing_the_operators_key_is_a_502_not_the_clients_401(client: openai.OpenAI) -> None:
    """The client's key was fine: an SDK must not report its own key as invalid."""
    for model, content in (("gpt-badkey", "hi"), ("gpt-fake", "trigger:status:403")):
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(  # type: ignore[call-overload]
                    model=model, messages=[{"role": "user", "content": content}], stream=stream
                )
            assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_failed"
            assert (
                "API key provided" not in caught.value.message and "invalid_api_key" not in caught.value.response.text
            )


def test_upstream_messages_reach_the_client_without_addresses_or_credentials(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(  # type: ignore[call-overload]
                model="gpt-fake", messages=[{"role": "user", "content": "trigger:leaky"}], stream=stream
            )
        assert caught.value.status_code == 500 and caught.value.code == "fake_refusal"
        text = caught.value.response.text
        for leak in ("10.0.7.3", "http://", "svc:8000", "sk-proj", "tok_internal"):
            assert leak not in text, text
        assert "while using key" in caught.value.message  # the sense is kept


def test_an_unreachable_upstream_names_no_address(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-dead", messages=USER)
    assert caught.value.code == "upstream_unreachable" and "127.0.0.1" not in caught.value.response.text


@pytest.mark.parametrize("ttl", ["²", "¹²³", "9" * 5000, "0", str(2**31)])
def test_a_cache_ttl_that_is_not_a_bounded_ascii_number_is_a_400(gateway_url: str, api_key: str, ttl: str) -> None:
    """``²`` passes ``str.isdigit()`` and 5,000 digits are more than ``int()`` reads: both were 500s."""
    headers = {"authorization": f"Bearer {api_key}", "x-tollgate-cache-ttl": ttl.encode("latin-1")}
    body = {"model": "gpt-fake", "messages": USER, "temperature": 0}
    response = httpx.post(f"{gateway_url}{CHAT}", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cache_ttl"


def test_huge_token_counts_on_a_key_with_a_budget_are_a_400(
    gateway_url: str, shared_config: dict[str, Any], gateway_workdir: Path
) -> None:
    """The reservation multiplies the count by a price in Decimal: 10^30 overflowed it into a 500."""
    key = create_key(shared_config, gateway_workdir, "budget-huge", "--budget-usd", "5")
    for name in ("max_tokens", "max_completion_tokens"):
        body = {"model": "gpt-fake", "messages": USER, name: 10**30}
        response = httpx.post(f"{gateway_url}{CHAT}", json=body, headers={"authorization": f"Bearer {key}"})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "tokens_too_large"


def test_upstream_429_keeps_retry_after(gateway_url: str, api_key: str) -> None:
    response = httpx.post(
        f"{gateway_url}{CHAT}",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": "trigger:429"}]},
        headers={"authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["type"] == "requests"


def test_upstream_invalid_json_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "trigger:garbage"}])
    assert caught.value.status_code == 502 and caught.value.code == "upstream_bad_response"


def test_stream_broken_midway_raises_in_the_sdk_after_partial_content(client: openai.OpenAI) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": "trigger:break"}], stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Hello from the"  # the fake cuts the connection after its third word
    assert "unreachable" in caught.value.message


def test_error_event_inside_stream_reaches_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as caught:
        list(
            client.chat.completions.create(
                model="gpt-fake", messages=[{"role": "user", "content": "trigger:midstream-error"}], stream=True
            )
        )
    assert "error while processing" in caught.value.message


async def test_client_disconnect_cancels_the_upstream_stream(gateway_url: str, api_key: str, fake_openai: Fake) -> None:
    state = fake_openai[0].state
    cancelled_before = state.streams_cancelled
    async with (
        httpx.AsyncClient(headers={"authorization": f"Bearer {api_key}"}) as http,
        http.stream(
            "POST",
            f"{gateway_url}{CHAT}",
            json={"model": "gpt-fake", "stream": True, "messages": [{"role": "user", "content": "trigger:stall"}]},
        ) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                break  # got the first chunk; now walk away while the upstream stalls
    deadline = time.monotonic() + 5
    while state.streams_cancelled == cancelled_before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert state.streams_cancelled == cancelled_before + 1
