"""The Gemini fake refuses what the real API refuses: the backend's tests mean something only if a
request the real Gemini would reject fails against the fake too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.fakes.gemini_server import API_KEY, MODEL, FakeGemini, running_fake_gemini

JSON = dict[str, Any]
HELLO = {"role": "user", "parts": [{"text": "hello"}]}
SIGNED = {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "sig-test"}
CALL = {"role": "model", "parts": [SIGNED, {"functionCall": {"name": "f", "args": {}}}]}
UNSIGNED = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
ANSWER = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "x"}}}]}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with running_fake_gemini() as server:
        server.signatures.add("sig-test")
        yield server


async def post(fake: FakeGemini, body: Any, *, method: str = "generateContent", **headers: str) -> tuple[int, Any]:
    url = f"{fake.base_url}/models/{MODEL}:{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers={"x-goog-api-key": API_KEY, **headers}) as response,
    ):
        return response.status, await response.json()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text"),
        ({"contents": [HELLO], "messages": []}, 'Unknown name "messages"'),
        ({"contents": [HELLO], "generationConfig": {"max_tokens": 5}}, 'Unknown name "max_tokens"'),
        ({"contents": [CALL]}, "function call turn comes immediately after a user turn"),
        ({"contents": [HELLO, CALL, ANSWER]}, "number of function response parts"),
        ({"contents": [HELLO, UNSIGNED, ANSWER]}, "missing a thought_signature"),
        ({"contents": [HELLO, {"role": "model", "parts": [{**SIGNED, "thoughtSignature": "forged"}]}]}, "signature"),
        (
            {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/tiff", "data": "AA=="}}]}]},
            "image/tiff",
        ),
        (
            {
                "contents": [HELLO],
                "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"additionalProperties": False}}]}],
            },
            'Unknown name "additionalProperties"',
        ),
    ],
)
async def test_malformed_requests_are_400_invalid_argument(fake: FakeGemini, body: JSON, words: str) -> None:
    status, answer = await post(fake, body)
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT" and answer["error"]["code"] == 400
    assert words in answer["error"]["message"]


@pytest.mark.asyncio
async def test_keys_are_checked_as_google_checks_them(fake: FakeGemini) -> None:
    status, answer = await post(fake, {"contents": [HELLO]}, **{"x-goog-api-key": "wrong"})
    assert (status, answer["error"]["details"][0]["reason"]) == (400, "API_KEY_INVALID")
    async with aiohttp.ClientSession() as session, session.get(f"{fake.base_url}/models") as response:
        assert (response.status, (await response.json())["error"]["status"]) == (403, "PERMISSION_DENIED")


@pytest.mark.asyncio
async def test_a_stream_without_alt_sse_is_one_json_array(fake: FakeGemini) -> None:
    status, answer = await post(fake, {"contents": [HELLO]}, method="streamGenerateContent")
    assert status == 200 and isinstance(answer, list)
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in answer) == "echo: hello"
    assert answer[-1]["candidates"][0]["finishReason"] == "STOP" and answer[-1]["usageMetadata"]["totalTokenCount"] == 3
