"""A streamed leader's chunks passed on to its client and logged for its followers, and a streamed
follower's replay of them as they arrive (single-flight, gateway/cache/flights.py).

The follower sees the leader's content chunks under its own id, then, when the leader's stream ended
well, its own usage chunk (if it asked) with its own cost: it is metered as a cache hit on the
leader's usage. A leader cut off (an upstream error, its client gone) ends the follower's stream
with an error event, at no cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from backends.base import JSON, Operation
from gateway.cache.flights import Flight
from gateway.core.errors import UpstreamError
from gateway.core.streams import close_stream
from gateway.edge import sse
from gateway.metering.outcome import Outcome, cut_short

# (status, outcome, usage) -> the follower's cost in dollars; called exactly once.
Settle = Callable[[int, Outcome, JSON | None], Decimal]


class Published:
    """The leader's chunks on their way to its relay, each logged in its flight as it passes."""

    def __init__(self, chunks: AsyncIterator[JSON], flight: Flight, first: JSON) -> None:
        self._chunks = chunks
        self._flight = flight
        flight.publish(first)

    def __aiter__(self) -> Published:
        return self

    async def __anext__(self) -> JSON:
        chunk = await anext(self._chunks)
        self._flight.publish(chunk)
        return chunk

    async def aclose(self) -> None:
        await close_stream(self._chunks)


async def replay(
    flight: Flight, op: Operation, request_id: str, model: str, *, wants_usage: bool, settle: Settle
) -> AsyncIterator[bytes]:
    """The follower's SSE events: the leader's content chunks as they arrive, then its own end."""
    head = {"id": f"{'chatcmpl' if op is Operation.CHAT else 'cmpl'}-{request_id}", "model": model}
    settled = False
    try:
        sent = 0
        while True:
            grew = flight.grew
            while sent < len(flight.log):  # the log may grow while an event is being written
                chunk = flight.log[sent]
                sent += 1
                if chunk.get("choices"):  # the leader's usage chunk carries the leader's cost
                    yield sse.event({**{k: v for k, v in chunk.items() if k != "usage"}, **head})
            if flight.answer.done():
                break
            await grew.wait()
        if flight.usage is None:
            settled = True
            settle(502, Outcome.UPSTREAM_ERROR, None)
            yield sse.event(UpstreamError("the identical request this one followed was cut off").envelope())
            return
        settled = True
        cost = settle(200, Outcome.OK, flight.usage)
        if wants_usage:
            last = flight.log[-1] if flight.log else {}
            tail = {k: last[k] for k in ("object", "created") if k in last}
            yield sse.event({**tail, **head, "choices": [], "usage": {**flight.usage, "cost": cost}})
        yield sse.DONE
    finally:
        if not settled:
            outcome, status = cut_short()
            settle(status, outcome, None)
