"""Sending one request to its deployment and relaying the answer, whole or as a stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from backends.base import JSON, Operation, TokenCounter
from backends.errors import TollgateError, UpstreamProtocolError
from gateway.kit import sse
from gateway.services.catalog import Route


@dataclass(slots=True)
class Answer:
    body: JSON
    route: Route
    upstream_seconds: float


def upstream_body(raw: JSON, route: Route) -> JSON:
    """The client's body as the upstream gets it: every field kept, the model name swapped."""
    body = dict(raw)
    body["model"] = route.upstream_model
    return body


async def complete(route: Route, op: Operation, raw: JSON) -> Answer:
    started = time.perf_counter()
    body = await route.backend.request(op, upstream_body(raw, route))
    elapsed = time.perf_counter() - started
    if "model" in body:
        body["model"] = route.public_model
    return Answer(body, route, elapsed)


async def open_stream(
    route: Route, op: Operation, raw: JSON, *, wants_usage: bool, tokens: TokenCounter, prompt_tokens: int
) -> StreamRelay:
    """Start the upstream stream and wait for its first chunk, so that anything that fails before
    the first byte is still an ordinary HTTP error for the client."""
    body = upstream_body(raw, route)
    body["stream"] = True
    body["stream_options"] = {**(raw.get("stream_options") or {}), "include_usage": True}
    started = time.perf_counter()
    chunks = route.backend.stream(op, body)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        raise UpstreamProtocolError(f"upstream {route.deployment} sent an empty stream") from None
    except BaseException:
        await _close(chunks)
        raise
    relay = StreamRelay(route, op, chunks, first, wants_usage=wants_usage, tokens=tokens)
    relay.prompt_tokens = prompt_tokens
    relay.upstream_first_chunk_seconds = time.perf_counter() - started
    return relay


async def _close(chunks: AsyncIterator[JSON]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class StreamRelay:
    """Relays an upstream stream to the client as SSE bytes, chunk by chunk.

    The upstream is always asked for its usage chunk; the client sees it only if it asked. When the
    upstream sends no usage, it is counted with tiktoken. A failure after the first byte ends the
    stream with an OpenAI error event (the SDKs raise it) and no ``[DONE]``.
    """

    def __init__(
        self,
        route: Route,
        op: Operation,
        chunks: AsyncIterator[JSON],
        first: JSON,
        *,
        wants_usage: bool,
        tokens: TokenCounter,
    ) -> None:
        self.route = route
        self._op = op
        self._chunks = chunks
        self._first: JSON | None = first
        self._wants_usage = wants_usage
        self._tokens = tokens
        self._text: list[str] = []
        self._last: JSON = first
        self.prompt_tokens = 0
        self.upstream_first_chunk_seconds = 0.0
        self.usage: JSON | None = None
        self.completed = False
        self.error: TollgateError | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            chunk = self._first
            self._first = None
            while chunk is not None:
                out = self._relay(chunk)
                if out is not None:
                    yield sse.event(out)
                chunk = await anext(self._chunks, None)
            tail = self._finish()
            if tail is not None:
                yield sse.event(tail)
            self.completed = True
            yield sse.DONE
        except TollgateError as exc:
            self.error = exc
            yield sse.event(exc.envelope())
        finally:
            # A client disconnect cancels this task; the upstream must still be closed.
            with anyio.CancelScope(shield=True):
                await _close(self._chunks)

    def _relay(self, chunk: JSON) -> JSON | None:
        if "model" in chunk:
            chunk["model"] = self.route.public_model
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            return chunk if (self._wants_usage and usage) else None
        self._last = chunk
        if not self._wants_usage:
            chunk.pop("usage", None)
        self._collect(choices)
        return chunk

    def _collect(self, choices: list[Any]) -> None:
        for choice in choices:
            if self._op is not Operation.CHAT:
                self._text.append(choice.get("text") or "")
                continue
            delta = choice.get("delta") or {}
            self._text.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or ():
                self._text.append((call.get("function") or {}).get("arguments") or "")

    def _finish(self) -> JSON | None:
        """Count usage the upstream did not send; return the usage chunk to add, if any."""
        if self.usage is not None:
            return None
        completion = self._tokens.count("".join(self._text))
        self.usage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }
        if not self._wants_usage:
            return None
        head: JSON = {k: self._last[k] for k in ("id", "object", "created", "model") if k in self._last}
        return {**head, "choices": [], "usage": self.usage}
