"""Bounds on awaits that share their timers: ``asyncio.timeout``'s behaviour at a fraction of its cost.

The router bounds every upstream try by its first-token limit (120 s unless configured), and almost
no bound ever fires. ``asyncio.timeout`` arms one event-loop timer per bound; under uvloop each is a
libuv timer made and unmade, about 3 µs of CPU per request on the hot path (docs/bench-hot-path.md).
Here the bounds that end within the same ``tick`` share one timer, so a busy gateway arms about one
per tick however many requests it serves; a bound fires up to one tick late, never early.

A plain ``with``, not ``async with``: entering and leaving make no coroutines, which cost more than the
timer saved. A bound that fires cancels its task, and leaving the ``with`` turns that cancellation into
:class:`TimeoutError`, exactly as ``asyncio.timeout`` does (a cancellation from elsewhere, the client
leaving, stays a cancellation).
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class Deadlines:
    """The bounds of one event loop's requests, grouped by the tick in which they end."""

    def __init__(self, tick: float = 0.01) -> None:
        self._tick = tick
        self._due: dict[int, set[Bound]] = {}

    def bound(self, seconds: float | None) -> Bound:
        """``with deadlines.bound(seconds):`` (around awaits, inside a task) raises :class:`TimeoutError` when the body
        takes longer than ``seconds``; ``None`` bounds nothing."""
        return Bound(self, seconds)

    def _join(self, bound: Bound, when: float, loop: asyncio.AbstractEventLoop) -> set[Bound]:
        tick = math.ceil(when / self._tick)
        due = self._due.get(tick)
        if due is None:
            due = self._due[tick] = set()
            loop.call_at(tick * self._tick, self._expire, tick)
        due.add(bound)
        return due

    def _expire(self, tick: int) -> None:
        for bound in self._due.pop(tick, ()):
            bound.fire()


class Bound:
    __slots__ = ("_cancelling", "_deadlines", "_due", "_expired", "_seconds", "_task")

    def __init__(self, deadlines: Deadlines, seconds: float | None) -> None:
        self._deadlines = deadlines
        self._seconds = seconds
        self._due: set[Bound] | None = None
        self._expired = False

    def __enter__(self) -> None:
        if self._seconds is None:
            return
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a bound must be awaited inside a task")
        self._task, self._cancelling = task, task.cancelling()
        loop = asyncio.get_running_loop()
        self._due = self._deadlines._join(self, loop.time() + self._seconds, loop)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None) -> None:
        if self._expired:
            if self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
                raise TimeoutError from exc
        elif self._due is not None:
            self._due.discard(self)

    def fire(self) -> None:
        self._expired = True
        self._task.cancel()
