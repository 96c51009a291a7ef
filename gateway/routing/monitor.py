"""Background checks of every replica: active health (``/health``) and vLLM's load (``/metrics``);
and, at each health round, whether a pool that scales to zero has been idle long enough to sleep.
A sleeping or waking pool's replicas are not checked: its :class:`~gateway.routing.wake.Wake` owns them.

Both read the router's current table on every round, so replicas added by a reload are watched
from the next round on and removed ones are forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from backends.vllm import VLLMReplica
from gateway.routing.replicas import Replica
from gateway.routing.table import RoutingTable
from gateway.routing.wake import Phase

log = logging.getLogger("tollgate.routing")


async def check_health_forever(table: Callable[[], RoutingTable], interval: float) -> None:
    while True:
        current = table()
        put_idle_pools_to_sleep(current)
        replicas = watched(current)
        results = await asyncio.gather(*(r.backend.ready() for r in replicas))
        for replica, ok in zip(replicas, results, strict=True):
            if ok != replica.healthy:
                log.warning("replica %s of %s is %s", replica.key, replica.backend.name, "up" if ok else "down")
            replica.healthy = ok
        await asyncio.sleep(interval)


def put_idle_pools_to_sleep(table: RoutingTable) -> None:
    for pool in table.pools.values():
        if pool.wake is not None:
            busy = pool.waiting() > 0 or any(replica.outstanding for replica in pool.replicas)
            pool.wake.idle(busy)


def watched(table: RoutingTable) -> list[Replica]:
    """The replicas to check: those of every pool that is not asleep or waking."""
    return [
        replica
        for pool in table.pools.values()
        if pool.wake is None or pool.wake.phase is Phase.AWAKE
        for replica in pool.replicas
    ]


async def scrape_load_forever(table: Callable[[], RoutingTable], interval: float) -> None:
    while True:
        replicas = [r for r in watched(table()) if isinstance(r.backend, VLLMReplica)]
        loads = await asyncio.gather(*(r.backend.engine_load() for r in replicas if isinstance(r.backend, VLLMReplica)))
        for replica, load in zip(replicas, loads, strict=True):
            replica.load = load
        await asyncio.sleep(interval)
