"""The contract every backend implements.

Requests and responses cross this border as plain JSON-shaped dicts in the OpenAI wire format:
the gateway has already validated the request and replaced the public model name by the
deployment's model. A backend that speaks another wire format (Anthropic) translates both ways.
Streams are async iterators of OpenAI ``chat.completion.chunk`` / ``text_completion`` dicts; the
gateway writes the SSE framing.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from backends.http_client import HTTPClient

JSON = dict[str, Any]


class Operation(enum.Enum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    IMAGES = "images/generations"
    IMAGE_EDITS = "images/edits"
    IMAGE_VARIATIONS = "images/variations"
    TRANSCRIPTIONS = "audio/transcriptions"
    TRANSLATIONS = "audio/translations"
    SPEECH = "audio/speech"
    # OpenAI's Responses API, passed through to the backends that serve it (the others get it translated).
    RESPONSES = "responses"


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def count_chat(self, messages: Sequence[JSON]) -> int:
        """Prompt tokens of a chat conversation, with the per-message framing OpenAI counts."""
        ...


@dataclass(frozen=True, slots=True)
class BackendContext:
    """What the gateway lends each backend when it builds it in the lifespan."""

    http: HTTPClient
    tokens: TokenCounter


class Backend(Protocol):
    name: str

    def supports(self, op: Operation) -> bool: ...

    async def request(self, op: Operation, body: JSON) -> JSON:
        """One non-streaming call; returns the OpenAI-shaped response body."""
        ...

    def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        """A streaming call. Errors before the first chunk are raised from the first ``anext``;
        closing the iterator cancels the upstream request."""
        ...

    async def ready(self) -> bool:
        """Whether the upstream can be reached now (used by ``/readyz``)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Upload:
    """One file of a multipart form."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Form:
    """A ``multipart/form-data`` request: text fields in order (names may repeat) and files."""

    fields: list[tuple[str, str]]
    files: list[Upload]


@dataclass(frozen=True, slots=True)
class Payload:
    """An answer that is not necessarily JSON: a transcript may be plain text, SRT or WebVTT."""

    body: bytes
    content_type: str


@runtime_checkable
class MediaBackend(Protocol):
    """What a backend offers beyond JSON in, JSON out (image generation goes through ``request``)."""

    async def upload(self, op: Operation, form: Form) -> Payload:
        """A multipart call (image edits, transcriptions, translations); the answer as it came."""
        ...

    def audio(self, op: Operation, body: JSON) -> AsyncIterator[bytes]:
        """A call whose answer is a byte stream (speech). Errors before the first chunk are raised
        from the first ``anext``; closing the iterator cancels the upstream request."""
        ...


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""
