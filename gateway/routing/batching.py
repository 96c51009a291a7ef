"""Micro-batching of embeddings: requests for one deployment that arrive within a short window go
upstream as one call with a list input, as a GPU serves a batch in about the time of one input.

A model's ``batching: {max_wait_ms, max_batch}`` turns it on. The first request for a replica opens
a batch; those with the same upstream parameters that follow within ``max_wait_ms`` join it, until
it holds ``max_batch`` inputs. Each client gets exactly its own vectors, in its order and encoding,
and its own usage: the upstream's token count split across the members in proportion to their
inputs as this gateway's tokenizer counts them, so the parts add up to what the upstream reported.

Failures: an answer the request itself could cause (a 4xx, such as one input too long) splits the
batch in halves, each sent again, until the bad input fails alone and its neighbours are answered.
Any other failure (5xx, timeout, unreachable, a broken answer) reaches every member as its own
error, and the router retries or falls back each of them as it would an unbatched request.

The upstream call runs in a task of its own: a client that disconnects leaves the batch (before it
is sent its inputs are left out; after, its vectors are dropped) without cancelling the others'.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from backends.base import JSON, Backend, Operation, TokenCounter
from gateway.core.background import Background
from gateway.core.errors import TollgateError, UpstreamError, UpstreamStatusError
from gateway.routing import batch_parts
from gateway.settings import Batching

log = logging.getLogger("tollgate.batching")

# A batch leaves this long before its window closes: ``max_wait_ms`` bounds the latency batching adds
# to a request, not only the timer, and sending a batch (the process woken by the timer, a task, a
# turn of the loop) added 0.8-1.2 ms at c=1 on a loaded two-core machine (docs/bench-batching.md).
_SEND_MARGIN = 0.002

# 4xx answers that blame the gateway's credentials or the rate, not an input: not worth a split.
_NOT_AN_INPUT = frozenset({401, 403, 407, 408, 409, 429})


@dataclass(slots=True)
class _Member:
    units: list[Any]
    weights: list[int]
    encoding: str
    answer: asyncio.Future[JSON]
    sent: Callable[[], None]


@dataclass(slots=True)
class _Batch:
    backend: Backend
    body: JSON  # the first member's body: every upstream parameter the others share
    members: list[_Member] = field(default_factory=list)
    size: int = 0  # inputs
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """One model deployment's embeddings batches (built with its routing table, one per target)."""

    def __init__(self, config: Batching, tokens: TokenCounter) -> None:
        self._wait = max(0.0, config.max_wait_ms / 1000 - _SEND_MARGIN)
        self._max = config.max_batch
        self._tokens = tokens
        self._open: dict[Hashable, _Batch] = {}
        self._sending = Background(lambda exc: log.error("an embeddings batch failed: %r", exc))

    async def request(self, backend: Backend, op: Operation, body: JSON, sent: Callable[[], None]) -> JSON:
        """``backend.request(op, body)``, an embeddings request's through a batch; ``sent`` is called
        when the request leaves for the upstream (with its batch: a client that left while the batch
        was open was never sent, and is billed nothing)."""
        units = batch_parts.units_of(body.get("input")) if op is Operation.EMBEDDINGS else None
        if units is None or len(units[1]) >= self._max:
            sent()
            return await backend.request(op, body)
        kind, inputs = units
        weights = [batch_parts.weight(unit, self._tokens) for unit in inputs]
        answer: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        member = _Member(inputs, weights, str(body.get("encoding_format") or "float"), answer, sent)
        self._join(batch_parts.batch_key(backend, body, kind), backend, body, member)
        # Cancelled here (the client left), the future is cancelled too and the batch leaves it out.
        return await answer

    def _join(self, key: Hashable, backend: Backend, body: JSON, member: _Member) -> None:
        batch = self._open.get(key)
        if batch is not None and batch.size + len(member.units) > self._max:
            self._flush(key, batch)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(backend, body)
            batch.timer = asyncio.get_running_loop().call_later(self._wait, self._flush, key, batch)
        batch.members.append(member)
        batch.size += len(member.units)
        if batch.size >= self._max:
            self._flush(key, batch)

    def _flush(self, key: Hashable, batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.timer is not None:
            batch.timer.cancel()
        self._sending.spawn(self._run(batch))

    async def aclose(self) -> None:
        """Fail the batches still open or being sent (at shutdown): no request waits on them."""
        closing = UpstreamError("the gateway is shutting down: the embeddings batch was cancelled")
        for batch in self._open.values():
            if batch.timer is not None:
                batch.timer.cancel()
            _fail_all(batch.members, closing)
        self._open.clear()
        await self._sending.aclose()  # a batch being sent fails its members as it is cancelled

    async def _run(self, batch: _Batch) -> None:
        members = [m for m in batch.members if not m.answer.done()]
        for member in members:
            member.sent()
        try:
            await self._send(batch, members)
        except BaseException as exc:  # a bug or a shutdown: no member may wait forever
            failure = exc if isinstance(exc, Exception) else UpstreamError("the batch was cancelled")
            _fail_all(members, failure)
            if not isinstance(exc, Exception):
                raise

    async def _send(self, batch: _Batch, members: list[_Member]) -> None:
        members = [m for m in members if not m.answer.done()]  # those who left before it was sent
        if not members:
            return
        encodings = {m.encoding for m in members}
        encoding = encodings.pop() if len(encodings) == 1 else "float"
        body = {**batch.body, "input": [u for m in members for u in m.units], "encoding_format": encoding}
        try:
            answer = await batch.backend.request(Operation.EMBEDDINGS, body)
            rows = batch_parts.rows_in_order(answer, len(body["input"]))
        except TollgateError as exc:
            if len(members) > 1 and _blames_an_input(exc):
                half = len(members) // 2
                log.debug("batch of %d requests refused (%s): split in two", len(members), exc.message)
                await asyncio.gather(self._send(batch, members[:half]), self._send(batch, members[half:]))
                return
            _fail_all(members, exc)
            return
        _deliver(answer, rows, members)


def _deliver(answer: JSON, rows: list[JSON], members: list[_Member]) -> None:
    usages = batch_parts.split_usage(answer.get("usage"), [sum(m.weights) for m in members])
    start = 0
    for member, usage in zip(members, usages, strict=True):
        own = rows[start : start + len(member.units)]
        start += len(own)
        if not member.answer.done():
            member.answer.set_result(batch_parts.member_answer(answer, own, member.encoding, usage))


def _blames_an_input(exc: TollgateError) -> bool:
    """A 4xx from the upstream that one of the inputs may have caused (too long, malformed)."""
    return (
        isinstance(exc, UpstreamStatusError)
        and 400 <= exc.upstream_status < 500
        and (exc.upstream_status not in _NOT_AN_INPUT)
    )


def _fail_all(members: list[_Member], exc: BaseException) -> None:
    """Each member still waiting raises its own copy (the router adds headers to the error it
    handles); the first one's counts against the replica's health, the others' are echoes: one
    upstream call failed, not one per member."""
    counted = False
    for member in members:
        if member.answer.done():
            continue
        own = exc.__class__.__new__(exc.__class__)
        own.__dict__.update(exc.__dict__)
        own.args = exc.args
        if isinstance(own, TollgateError):
            own.headers = dict(own.headers)
            own.echo = counted
        counted = True
        member.answer.set_exception(own)
