"""A deployment's replicas and how one request gets one of them: queue, strategy, lease."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from backends.registry import BackendConfig
from backends.simulator import SimulatorConfig
from backends.vllm import Strategy, VLLMConfig
from gateway.core.errors import TollgateError, UpstreamUnreachable
from gateway.routing import retry
from gateway.routing.leases import Bounds, Unshared
from gateway.routing.queue import WaitQueue
from gateway.routing.replicas import Circuit, Replica
from gateway.routing.shared import SharedRouting
from gateway.routing.strategies import Choice, pick
from gateway.routing.wake_control import wake_of

Clock = Callable[[], float]


class Lease:
    """One request holding one replica; ``done`` gives it back, exactly once."""

    def __init__(self, pool: Pool, replica: Replica, now: float, shared_id: str | None = None) -> None:
        self.pool = pool
        self.replica = replica
        self.started = now
        self.breaker_opened = False
        self.shared_id = shared_id  # its lease in Redis, held across every gateway
        self._open = True

    def done(self, failure: TollgateError | None, seconds: float | None = None) -> None:
        """``seconds``: the latency to learn from (by default, since the lease began)."""
        if not self._open:
            return
        self._open = False
        now = self.pool.clock()
        healthy = failure is None or not retry.blames_replica(failure)
        took = now - self.started if seconds is None else seconds
        change = self.replica.end(healthy=healthy, seconds=took, now=now)
        self.breaker_opened = change is Circuit.OPEN
        shared = self.pool.shared
        if shared is not None and self.shared_id is not None:
            shared.leases.give_back(self.pool.name, self.replica.key, self.shared_id)
        if shared is not None and change is not None:
            shared.breaker_changed(self.pool.name, self.replica.key, change)
        self.pool.freed()


class Pool:
    def __init__(
        self,
        name: str,
        config: BackendConfig,
        replicas: Sequence[Replica],
        clock: Clock,
        shared: SharedRouting | None = None,
    ) -> None:
        self.name = name
        self.shared = shared
        self.config = config
        self.replicas = list(replicas)
        self.clock = clock
        self.region = config.region
        self.first_token = None if isinstance(config, SimulatorConfig) else config.timeouts.first_token
        pool = config if isinstance(config, VLLMConfig) else None
        self.strategy: Strategy = pool.strategy if pool else "least_outstanding"
        self.max_outstanding = pool.max_outstanding if pool else None
        self.priority_scheduling = bool(pool and pool.priority_scheduling)
        self.queue = (
            WaitQueue(name, pool.queue_size, pool.max_queue_wait) if pool and pool.max_outstanding is not None else None
        )
        self._bounds = (
            Bounds(name, pool.max_outstanding, pool.queue_size, pool.max_queue_wait)
            if pool and pool.max_outstanding is not None and shared is not None
            else None
        )
        self._turn = itertools.count()
        self._random = random.Random()
        # Scale to zero (gateway/routing/wake.py): None for a pool that never sleeps.
        self.wake = wake_of(name, pool, self.replicas, clock) if pool else None

    def has_room(self) -> bool:
        now = self.clock()
        limit = self.max_outstanding
        return any(r.eligible(now) and (limit is None or r.outstanding < limit) for r in self.replicas)

    async def acquire(
        self, priority: int, affinity: Callable[[], str | None], tried: set[Replica], *, last_resort: bool
    ) -> Lease:
        """Wait for room (when every replica is saturated), then take the strategy's replica: one not
        tried yet for this request when there is one, and one whose circuit is open only when this is
        the ``last_resort`` (no fallback after it) and no other is left: like Envoy's panic routing,
        an answer from a doubtful replica beats a certain error.

        With Redis, the room and the queue are the whole deployment's (:mod:`gateway.routing.leases`);
        while Redis cannot be asked, this gateway's own. A sleeping pool is woken first (and falls
        back, or waits for it unless it is the ``last_resort``)."""
        if self.wake is not None:
            await self.wake.admit(last_resort)
        if self._bounds is not None and self.shared is not None:
            try:
                return await self._acquire_shared(self.shared, self._bounds, priority, affinity, tried, last_resort)
            except Unshared:
                pass  # logged once by the leases
        if self.queue is not None:
            await self.queue.wait_for_room(priority, self.has_room)
        now = self.clock()
        try:
            fresh = self._fresh(tried, last_resort)
        except UpstreamUnreachable:
            self.freed()  # the room this request was woken for goes to the next waiter
            raise
        replica = fresh[0] if len(fresh) == 1 else fresh[self._pick(fresh, affinity)]
        replica.begin(now)
        return Lease(self, replica, now)

    async def _acquire_shared(
        self,
        shared: SharedRouting,
        bounds: Bounds,
        priority: int,
        affinity: Callable[[], str | None],
        tried: set[Replica],
        last_resort: bool,
    ) -> Lease:
        offered: list[Replica] = []

        def candidates() -> list[str]:
            offered[:] = self._candidates(affinity, tried, last_resort)
            return [r.key for r in offered]

        grant = await shared.leases.take(bounds, candidates, priority)
        now = self.clock()
        replica = offered[grant.index]
        replica.begin(now)
        return Lease(self, replica, now, grant.lease_id)

    def _fresh(self, tried: set[Replica], last_resort: bool) -> list[Replica]:
        now = self.clock()
        usable = [r for r in self.replicas if r.eligible(now)] or (self.replicas if last_resort else [])
        fresh = [r for r in usable if r not in tried] or usable
        if not fresh:
            raise UpstreamUnreachable(
                f"no replica of {self.name} can take requests now (failing health checks or circuit open)"
            )
        return fresh

    def _candidates(self, affinity: Callable[[], str | None], tried: set[Replica], last_resort: bool) -> list[Replica]:
        """The replicas this request may go to: the strategy's choice first, then the others by fewest
        in flight from here (where a shared lease goes when the choice is full on another gateway)."""
        fresh = self._fresh(tried, last_resort)
        if len(fresh) == 1:
            return fresh
        first = fresh[self._pick(fresh, affinity)]
        return [first, *sorted((r for r in fresh if r is not first), key=lambda r: r.outstanding)]

    def _pick(self, replicas: list[Replica], affinity: Callable[[], str | None]) -> int:
        views = [r.view(self.max_outstanding) for r in replicas]
        key = affinity() if self.strategy == "affinity" else None
        draws = (
            (self._random.randrange(1 << 30), self._random.randrange(1 << 30)) if self.strategy == "latency" else (0, 1)
        )
        return pick(self.strategy, views, Choice(next(self._turn), key, draws))

    def waiting(self) -> int:
        """Requests of this gateway waiting for room (``tollgate_queue_depth``, ``GET /admin/routing``)."""
        here = len(self.queue) if self.queue is not None else 0
        here += self.wake.waiting if self.wake is not None else 0  # waiting for the pool to wake
        return here + (self.shared.leases.waiting(self.name) if self.shared is not None else 0)

    def freed(self) -> None:
        if self.wake is not None:
            self.wake.touch()
        if self.queue is not None and len(self.queue) and self.has_room():
            self.queue.wake()
