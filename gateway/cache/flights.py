"""Single-flight: identical requests in flight at the same time make one upstream call.

For a model with an exact cache, the first request that misses (the leader) goes upstream; an
identical one (same tenant, same exact key) that misses while the leader is in flight follows it:
it waits for the leader's answer and is served it as a cache hit (the hit price, ``x-tollgate-cache:
hit``), whole or replayed as a stream once the leader's has ended. The leader lands its flight when
its answer is kept, with the answer if the cache would store it; otherwise (an error, a cut stream,
an answer the cache does not store, a client that left) with nothing, and each follower then goes
upstream itself, as it would have without a leader. A leader's flight also lands when its request's
task ends, so no follower waits on a request that ended in a way the cache did not see.

Flights are per gateway process: replicas and workers each have their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from backends.base import JSON


@dataclass(slots=True)
class Flight:
    key: str
    answer: asyncio.Future[JSON | None]
    followers: int = 0
    leads: bool = False


class Flights:
    """The leaders in flight, by exact cache key."""

    def __init__(self) -> None:
        self._flying: dict[str, Flight] = {}

    def board(self, key: str) -> Flight:
        """The flight of an identical request in flight to follow, or a new one this request leads."""
        flight = self._flying.get(key)
        if flight is not None:
            flight.followers += 1
            return Flight(key, flight.answer)
        flight = self._flying[key] = Flight(key, asyncio.get_running_loop().create_future(), leads=True)
        task = asyncio.current_task()
        if task is not None:  # the request ended without landing its flight: release its followers
            task.add_done_callback(lambda _: self.land(flight, None))
        return flight

    def wanted(self, flight: Flight) -> bool:
        """Whether anyone follows the flight (so its answer is worth handing over)."""
        own = self._flying.get(flight.key)
        return own is not None and own.answer is flight.answer and own.followers > 0

    def land(self, flight: Flight, answer: JSON | None) -> None:
        """End the flight with ``answer`` (None: each follower goes upstream itself)."""
        own = self._flying.get(flight.key)
        if own is not None and own.answer is flight.answer:
            del self._flying[flight.key]
        if not flight.answer.done():
            flight.answer.set_result(answer)


async def follow(flight: Flight) -> JSON | None:
    """The leader's answer, or None when the follower must go upstream itself. A follower that is
    cancelled (its client left) leaves the flight as it is for the others."""
    return await asyncio.shield(flight.answer)
