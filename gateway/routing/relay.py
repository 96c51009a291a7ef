"""Sending one request to its deployment and relaying the answer, whole or as a stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from backends.base import JSON, Operation, TokenCounter
from backends.shape import check_answer
from gateway.core.errors import TollgateError, UpstreamProtocolError
from gateway.core.streams import close_stream
from gateway.edge import sse
from gateway.metering.answers import answer_text
from gateway.metering.meter import Charge
from gateway.metering.outcome import Outcome, cut_short
from gateway.metering.pricing import usd
from gateway.routing.catalog import Route

if TYPE_CHECKING:
    from gateway.routing.batching import Batcher


# (status, outcome, usage, time to first token) -> the request's charge; called exactly once.
Finish = Callable[[int, Outcome, JSON | None, float | None], Charge]


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


async def complete(
    route: Route, op: Operation, raw: JSON, sent: Callable[[], None], batcher: Batcher | None = None
) -> Answer:
    """``sent`` is called as the request leaves for the upstream; ``batcher``: the model's embeddings
    batches on this deployment (gateway/routing/batching.py), which call it as the batch leaves."""
    started = time.perf_counter()
    if batcher is None:
        sent()
        body = await route.backend.request(op, upstream_body(raw, route))
    else:
        body = await batcher.request(route.backend, op, upstream_body(raw, route), sent)
    elapsed = time.perf_counter() - started
    check_answer(op, body, route.deployment)
    if "model" in body:
        body["model"] = route.public_model
    return Answer(body, route, elapsed)


async def open_stream(route: Route, op: Operation, raw: JSON) -> tuple[AsyncIterator[JSON], JSON, float]:
    """Start the upstream stream and wait for its first chunk, so that anything that fails before
    the first byte is still an ordinary HTTP error for the client."""
    body = upstream_body(raw, route)
    body["stream"] = True
    if op is not Operation.RESPONSES:  # a Responses stream always ends with its usage
        body["stream_options"] = {**(raw.get("stream_options") or {}), "include_usage": True}
    started = time.perf_counter()
    chunks = route.backend.stream(op, body)
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        raise UpstreamProtocolError(f"upstream {route.deployment} sent an empty stream") from None
    except BaseException:
        await close_stream(chunks)
        raise
    return chunks, first, time.perf_counter() - started


class MeteredStream:
    """What every relayed stream shares: it is metered exactly once (:meth:`_record`), with the usage
    the upstream reported or, without it, :meth:`_usage`, the prompt and the text relayed so far
    counted here; and however it ends (its client left, shutdown cut it), :meth:`_close` meters what
    was not yet and closes the upstream."""

    def __init__(
        self,
        route: Route,
        upstream: AsyncIterator[JSON],
        first: JSON,
        *,
        tokens: TokenCounter,
        prompt_tokens: Callable[[], int],
        finish: Finish,
        started: float,
    ) -> None:
        self.route = route
        self._upstream = upstream
        self._first: JSON | None = first
        self._tokens = tokens
        self._prompt_tokens = prompt_tokens
        self._finish_call = finish
        self._finished = False
        self._ttft = time.perf_counter() - started
        self._text: list[str] = []
        self._drained = False  # the upstream was read to its end (and so has closed itself)

    def _counted(self) -> tuple[int, int]:
        """The prompt's tokens and those of the text relayed so far, counted here."""
        return self._prompt_tokens(), self._tokens.count("".join(self._text))

    def _usage(self) -> JSON:
        """The stream's usage in its wire's words."""
        raise NotImplementedError

    def _record(self, outcome: Outcome, status: int, usage: JSON | None = None) -> int:
        """Meter the stream once, with ``usage`` when the caller has already worked it out."""
        self._finished = True
        return self._finish_call(status, outcome, usage or self._usage(), self._ttft).cost_micros

    async def _close(self) -> None:
        if not self._finished:
            self._record(*cut_short())
        if self._drained:  # the usual end: nothing to close, so no shield (about 9 µs a stream) either
            return
        # A client disconnect cancels this task; the upstream must still be closed.
        with anyio.CancelScope(shield=True):
            await close_stream(self._upstream)


class StreamRelay(MeteredStream):
    """Relays an upstream stream to the client as SSE bytes, chunk by chunk, and meters it once.

    The upstream is always asked for its usage chunk; the client sees it (with ``usage.cost``) only
    if it asked. When the upstream sends no usage, it is counted with tiktoken. A failure after the
    first byte ends the stream with an OpenAI error event (the SDKs raise it) and no ``[DONE]``.
    The usage record is journaled before the last byte leaves, and on a client disconnect what was
    generated up to then is billed.
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
        prompt_tokens: Callable[[], int],
        finish: Finish,
        started: float,
    ) -> None:
        super().__init__(
            route, chunks, first, tokens=tokens, prompt_tokens=prompt_tokens, finish=finish, started=started
        )
        self._op = op
        self._wants_usage = wants_usage
        self._last: JSON = first
        self._usage_chunk: JSON | None = None
        # The choices relayed, read for their text only if the upstream sends no usage (rarely: it is asked to).
        self._choices: list[Any] = []

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            chunk = self._first
            self._first = None
            while chunk is not None:
                out = self._relay(chunk)
                if out is not None:
                    yield sse.event(out)
                chunk = await anext(self._upstream, None)
            self._drained = True
            tail = self._finish(Outcome.OK, 200)
            if tail is not None:
                yield sse.event(tail)
            yield sse.DONE
        except TollgateError as exc:
            self._record(Outcome.UPSTREAM_ERROR, exc.http_status)
            yield sse.event(exc.envelope())
        finally:
            await self._close()

    def _relay(self, chunk: JSON) -> JSON | None:
        if "model" in chunk:
            chunk["model"] = self.route.public_model
        choices = chunk.get("choices")
        if not choices:
            if chunk.get("usage"):
                self._usage_chunk = chunk  # held back: it goes last, with the cost added
            return None
        self._last = chunk
        if not self._wants_usage:
            chunk.pop("usage", None)
        self._choices.append(choices)
        return chunk

    def _counted(self) -> tuple[int, int]:
        self._text.extend(text for choices in self._choices for text in answer_text(self._op, choices))
        self._choices.clear()
        return super()._counted()

    def _usage(self) -> JSON:
        if self._usage_chunk is not None:
            usage: JSON = self._usage_chunk["usage"]
            return usage
        prompt, completion = self._counted()
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _finish(self, outcome: Outcome, status: int) -> JSON | None:
        """Meter the stream, then return the usage chunk the client asked for, with its cost."""
        usage = self._usage()  # counted once: with no usage chunk, that is a pass of the tokenizer
        cost = self._record(outcome, status, usage)
        if not self._wants_usage:
            return None
        chunk = self._usage_chunk
        if chunk is None:
            chunk = {k: self._last[k] for k in ("id", "object", "created", "model") if k in self._last}
            chunk["choices"] = []
        chunk["usage"] = {**usage, "cost": usd(cost)}
        return chunk
