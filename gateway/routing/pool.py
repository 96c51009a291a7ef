"""A deployment's replicas and how one request gets one of them: queue, strategy, lease."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from backends.errors import TollgateError, UpstreamUnreachable
from backends.registry import BackendConfig
from backends.simulator import SimulatorConfig
from backends.vllm import Strategy, VLLMConfig
from gateway.routing import retry
from gateway.routing.queue import WaitQueue
from gateway.routing.replicas import Replica
from gateway.routing.strategies import Choice, pick

Clock = Callable[[], float]


class Lease:
    """One request holding one replica; ``done`` gives it back, exactly once."""

    def __init__(self, pool: Pool, replica: Replica, now: float) -> None:
        self.pool = pool
        self.replica = replica
        self.started = now
        self.breaker_opened = False
        self._open = True

    def done(self, failure: TollgateError | None, seconds: float | None = None) -> None:
        """``seconds``: the latency to learn from (by default, since the lease began)."""
        if not self._open:
            return
        self._open = False
        now = self.pool.clock()
        healthy = failure is None or not retry.blames_replica(failure)
        took = now - self.started if seconds is None else seconds
        self.breaker_opened = self.replica.end(healthy=healthy, seconds=took, now=now)
        self.pool.freed()


class Pool:
    def __init__(self, name: str, config: BackendConfig, replicas: Sequence[Replica], clock: Clock) -> None:
        self.name = name
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
        self._turn = itertools.count()
        self._random = random.Random()

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
        an answer from a doubtful replica beats a certain error."""
        if self.queue is not None:
            await self.queue.wait_for_room(priority, self.has_room)
        now = self.clock()
        usable = [r for r in self.replicas if r.eligible(now)] or (self.replicas if last_resort else [])
        fresh = [r for r in usable if r not in tried] or usable
        if not fresh:
            self.freed()  # the room this request was woken for goes to the next waiter
            raise UpstreamUnreachable(
                f"no replica of {self.name} can take requests now (failing health checks or circuit open)"
            )
        replica = fresh[0] if len(fresh) == 1 else fresh[self._pick(fresh, affinity)]
        replica.begin(now)
        return Lease(self, replica, now)

    def _pick(self, replicas: list[Replica], affinity: Callable[[], str | None]) -> int:
        views = [r.view(self.max_outstanding) for r in replicas]
        key = affinity() if self.strategy == "affinity" else None
        draws = (
            (self._random.randrange(1 << 30), self._random.randrange(1 << 30)) if self.strategy == "latency" else (0, 1)
        )
        return pick(self.strategy, views, Choice(next(self._turn), key, draws))

    def freed(self) -> None:
        if self.queue is not None and len(self.queue) and self.has_room():
            self.queue.wake()
