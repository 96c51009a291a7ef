"""Scale to zero: a pool that sleeps after ``idle_after`` without a request, and wakes on the next.

One :class:`Wake` per pool with ``min_replicas: 0``. Its phases:

- ``awake``: requests go through; each one (and each end) marks the pool active.
- ``asleep``: the monitor found it idle (nothing in flight, nobody waiting, no request for
  ``idle_after``) and had its :class:`Control` stop it. Its replicas count as down.
- ``waking``: a request came for it; the control starts it, then its replicas are probed until one
  is ready: the pool is awake again, and the time since the request came is one cold start.

A request for a pool that is not awake wakes it, then either falls back at once (another
deployment follows in the model's chain: it serves while the pool wakes) or waits in the pool's
bounded queue (``queue_size`` waiters at most) for a healthy replica, ``max_cold_start_wait`` at
most; then 503 ``overloaded`` with ``Retry-After``. A pool whose replicas are all down while no
one put it to sleep (started at zero, or scaled to zero by KEDA) is asleep too: the next request
wakes it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from gateway.core.background import Background
from gateway.core.errors import Overloaded
from gateway.routing.replicas import Replica

log = logging.getLogger("tollgate.routing")

Clock = Callable[[], float]
PROBE_INTERVAL = 0.25  # seconds between readiness probes of a waking pool


class Phase(enum.Enum):
    AWAKE = "awake"
    ASLEEP = "asleep"
    WAKING = "waking"


class Control(Protocol):
    """What stops and starts a pool's replicas; both may raise (the wake or sleep is then undone)."""

    async def stop(self) -> None: ...

    async def start(self) -> None: ...


class Wake:
    def __init__(
        self,
        pool: str,
        replicas: Sequence[Replica],
        control: Control,
        clock: Clock,
        *,
        idle_after: float,
        max_wait: float,
        queue_size: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pool = pool
        self.replicas = list(replicas)
        self.control = control
        self.clock = clock
        self.idle_after = idle_after
        self.max_wait = max_wait
        self.queue_size = queue_size
        self._sleep = sleep
        self.phase = Phase.AWAKE
        self.last_active = clock()
        self.changed_at = self.last_active  # when the phase last changed (for the cost of a sleeping pool)
        self.waiting = 0  # requests waiting here for the pool to wake
        self._demand = self.last_active  # the last request that wanted the pool while not awake
        self._up = asyncio.Event()
        self._up.set()
        self._lock = asyncio.Lock()  # one stop or start at a time, in the order asked
        self._background = Background(lambda exc: log.error("pool %s: a stop or wake failed: %r", pool, exc))
        self.cold_starts: list[float] = []  # measured, not yet published (gateway/routing/metrics.py)
        self.last_cold_start: float | None = None

    def touch(self) -> None:
        """A request began or ended on the pool."""
        self.last_active = self.clock()

    def running(self) -> int:
        """Replicas that can take requests now, as this gateway sees them (0 while asleep)."""
        if self.phase is not Phase.AWAKE:
            return 0
        return sum(1 for replica in self.replicas if replica.healthy)

    def pending(self, in_flight: int, queued: int) -> int:
        """Demand for the pool (``tollgate_pool_pending_requests``): requests in flight on it and waiting
        for it, and 1 while it wakes for requests that went to a fallback, so that an outside
        autoscaler (KEDA) brings it from zero either way."""
        demand = in_flight + queued  # ``queued`` counts this wake's waiters (Pool.waiting)
        return demand or (1 if self.phase is Phase.WAKING else 0)

    async def admit(self, last_resort: bool) -> None:
        """Before a request takes a replica: return when the pool is awake; otherwise wake it and
        raise ``Overloaded`` (the router falls back) unless this is the ``last_resort``, which waits."""
        now = self.clock()
        self.last_active = now
        if self.phase is Phase.AWAKE and any(replica.healthy for replica in self.replicas):
            return
        self._demand = now
        self.wake()
        if not last_resort:
            raise self._refusal("is waking up; a fallback serves meanwhile")
        if self.waiting >= self.queue_size:
            raise self._refusal(f"is waking up and its queue is full ({self.queue_size} requests wait)")
        self.waiting += 1
        try:
            async with asyncio.timeout(self.max_wait):
                await self._up.wait()
        except TimeoutError:
            raise self._refusal(f"did not wake within {self.max_wait:g} s") from None
        finally:
            self.waiting -= 1
            self.last_active = self.clock()

    def wake(self) -> None:
        """Start waking the pool unless it is already waking (idempotent)."""
        if self.phase is Phase.WAKING:
            return
        self._enter(Phase.WAKING)
        self._up.clear()
        self._spawn(self._wake(self._demand))

    def idle(self, busy: bool) -> bool:
        """The monitor's tick: put the pool to sleep when it has been idle ``idle_after``; True then."""
        now = self.clock()
        if self.phase is not Phase.AWAKE or busy or self.waiting or now - self.last_active < self.idle_after:
            return False
        self._enter(Phase.ASLEEP)
        self._up.clear()
        for replica in self.replicas:
            replica.healthy = False  # no request goes there until it has woken and answered a probe
        self._spawn(self._stop())
        log.warning("pool %s is idle for %.0f s: asleep", self.pool, now - self.last_active)
        return True

    async def _stop(self) -> None:
        async with self._lock:
            if self.phase is not Phase.ASLEEP:
                return  # woken before it could be stopped
            try:
                await self.control.stop()
            except Exception as exc:  # still running: awake, and idle again from now
                log.warning("pool %s could not be stopped, it stays awake: %s", self.pool, exc)
                await self._probe()  # its replicas take requests again at once
                self.last_active = self.clock()
                self._awake()

    async def _wake(self, since: float) -> None:
        async with self._lock:
            try:
                await self.control.start()
                while not await self._probe():
                    if self.clock() - self._demand > self.max_wait:
                        raise TimeoutError(f"no replica ready {self.max_wait:g} s after the last request for it")
                    await self._sleep(PROBE_INTERVAL)
            except Exception as exc:
                log.warning("pool %s did not wake: %s", self.pool, exc)
                self._enter(Phase.ASLEEP)  # the next request tries again
                return
            seconds = self.clock() - since
            self.cold_starts.append(seconds)
            self.last_cold_start = seconds
            log.warning("pool %s is awake after a cold start of %.1f s", self.pool, seconds)
            self.last_active = self.clock()
            self._awake()

    async def _probe(self) -> bool:
        results = await asyncio.gather(*(replica.backend.ready() for replica in self.replicas))
        for replica, ok in zip(self.replicas, results, strict=True):
            replica.healthy = ok
        return any(results)

    def _awake(self) -> None:
        self._enter(Phase.AWAKE)
        self._up.set()

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.changed_at = self.clock()

    def _refusal(self, why: str) -> Overloaded:
        expected = self.last_cold_start if self.last_cold_start is not None else self.max_wait
        return Overloaded(
            f"The pool '{self.pool}' {why}; retry later.", headers={"retry-after": str(max(1, math.ceil(expected)))}
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._background.spawn(work)

    async def aclose(self) -> None:
        """Cancel a stop or wake in progress."""
        await self._background.aclose()
