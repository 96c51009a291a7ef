"""Single-flight: identical requests in flight at the same time make one upstream call.

For a model with an exact cache, the first request that misses (the leader) goes upstream; an
identical one (same tenant, same exact key) that misses while the leader is in flight follows it:
it waits for the leader's answer and is served it as a cache hit (the hit price, ``x-tollgate-cache:
hit``), whole, or as a stream: replayed as the leader's stream arrives when both stream, else
once the leader's answer is complete. The leader lands its flight when
its answer is kept, with the answer if the cache would store it; otherwise (an error, a cut stream,
an answer the cache does not store, a client that left) with nothing, and each follower then goes
upstream itself, as it would have without a leader. A leader's flight also lands when its request's
task ends, so no follower waits on a request that ended in a way the cache did not see.

Flights are per gateway process: replicas and workers each have their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from backends.base import JSON


@dataclass(slots=True)
class Flight:
    """One leader's request in flight. A streamed leader logs its chunks as they arrive, so that
    streamed followers replay them live (gateway/cache/live.py); ``usage`` is set when it ended well."""

    key: str
    answer: asyncio.Future[JSON | None]
    streaming: bool = False
    followers: int = 0
    log: list[JSON] = field(default_factory=list)
    grew: asyncio.Event = field(default_factory=asyncio.Event)
    usage: JSON | None = None

    def publish(self, chunk: JSON) -> None:
        self.log.append(chunk)
        self.wake()

    def wake(self) -> None:
        grew, self.grew = self.grew, asyncio.Event()
        grew.set()


class Flights:
    """The leaders in flight, by exact cache key."""

    def __init__(self) -> None:
        self._flying: dict[str, Flight] = {}

    def board(self, key: str, *, streaming: bool) -> tuple[Flight, bool]:
        """The flight of an identical request in flight to follow, or a new one this request leads
        (``streaming``: as a stream); and whether it leads."""
        flight = self._flying.get(key)
        if flight is not None:
            flight.followers += 1
            return flight, False
        future = asyncio.get_running_loop().create_future()
        flight = self._flying[key] = Flight(key, future, streaming)
        task = asyncio.current_task()
        if task is not None:  # the request ended without landing its flight: release its followers
            task.add_done_callback(lambda _: self.land(flight, None))
        return flight, True

    def land(self, flight: Flight, answer: JSON | None) -> None:
        """End the flight with ``answer`` (None: each follower goes upstream itself)."""
        if self._flying.get(flight.key) is flight:
            del self._flying[flight.key]
        if not flight.answer.done():
            flight.answer.set_result(answer)
            flight.wake()


async def follow(flight: Flight) -> JSON | None:
    """The leader's answer, or None when the follower must go upstream itself. A follower that is
    cancelled (its client left) leaves the flight as it is for the others."""
    return await asyncio.shield(flight.answer)
