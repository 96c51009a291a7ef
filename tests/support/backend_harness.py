"""What the backend tests (``tests/integration/test_*_backend.py``, ``tests/e2e/test_*_via_sdk.py``) drive a backend
with: a word-counting token counter, the context a backend is built with, and stream readers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backends.base import Backend, BackendContext, Operation
from backends.http_client import HTTPClient

JSON = dict[str, Any]
# A 1x1 PNG, base64-encoded: the smallest image an upstream's image checks accept.
PNG_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class WordCounter:
    """Counts tokens as words, so a test can say how many tokens a prompt is."""

    def count(self, text: str) -> int:
        return len(text.split())

    def count_chat(self, messages: Sequence[JSON]) -> int:
        return sum(self.count(str(message.get("content") or "")) for message in messages)


def backend_context(http: HTTPClient) -> BackendContext:
    """The context a backend under test is built with: the test's HTTP client, tokens as words."""
    return BackendContext(http=http, tokens=WordCounter())


async def collect(backend: Backend, body: JSON) -> list[JSON]:
    """Every chunk of a streamed chat answer."""
    return [chunk async for chunk in backend.stream(Operation.CHAT, body)]


def streamed_text(chunks: list[JSON]) -> str:
    """The text a stream's chunks spell out (the usage chunk has no choices)."""
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
