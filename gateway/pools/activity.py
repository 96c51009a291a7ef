"""Whether a pool's engines did any work lately, from their own ``/metrics``: requests running or
waiting, or more requests finished than at the last look.

``tollgate pool serve`` looks every second and refuses a gateway's stop while the engines worked
within the pool's ``idle_after``: each gateway keeps its own idle clock, and one gateway must not
stop a pool that another still sends requests to.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from backends.vllm import EngineLoad, parse_engine_load

SLACK = 2.0  # seconds: the looks are a second apart, and a gateway's idle clock starts at its last answer


class Busy(Exception):
    """The engines worked too recently for the pool to be stopped."""


class Activity:
    def __init__(self, idle_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle_after = idle_after
        self._clock = clock
        self.last_busy = clock()
        self._finished: list[float] | None = None

    def look(self, roots: Sequence[str]) -> None:
        """Read each engine's ``/metrics`` (``roots``: the servers' URLs without ``/v1``); one that
        cannot be read (stopped, starting) tells nothing."""
        loads = [load for load in (_engine_load(root) for root in roots) if load is not None]
        finished = [load.requests_finished for load in loads]
        working = any(load.running or load.waiting for load in loads)
        if working or (self._finished is not None and finished != self._finished):
            self.last_busy = self._clock()
        self._finished = finished

    def started(self) -> None:
        """The replicas were (re)started: idle from now, counters from zero."""
        self.last_busy = self._clock()
        self._finished = None

    def check_idle(self) -> None:
        """Raises Busy unless the engines have done nothing for about ``idle_after``."""
        quiet = self._clock() - self.last_busy
        if quiet < self._idle_after - SLACK:
            raise Busy(f"the engines worked {quiet:.0f} s ago (idle_after {self._idle_after:g} s)")


def _engine_load(root: str) -> EngineLoad | None:
    try:
        with urllib.request.urlopen(f"{root}/metrics", timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    try:
        return parse_engine_load(text)
    except ValueError:
        return None
