"""Background checks of every replica: active health (``/health``) and vLLM's load (``/metrics``).

Both read the router's current table on every round, so replicas added by a reload are watched
from the next round on and removed ones are forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from backends.vllm import VLLMReplica
from gateway.routing.table import RoutingTable

log = logging.getLogger("tollgate.routing")


async def check_health_forever(table: Callable[[], RoutingTable], interval: float) -> None:
    while True:
        replicas = table().replicas()
        results = await asyncio.gather(*(r.backend.ready() for r in replicas))
        for replica, ok in zip(replicas, results, strict=True):
            if ok != replica.healthy:
                log.warning("replica %s of %s is %s", replica.key, replica.backend.name, "up" if ok else "down")
            replica.healthy = ok
        await asyncio.sleep(interval)


async def scrape_load_forever(table: Callable[[], RoutingTable], interval: float) -> None:
    while True:
        replicas = [r for r in table().replicas() if isinstance(r.backend, VLLMReplica)]
        loads = await asyncio.gather(*(r.backend.engine_load() for r in replicas if isinstance(r.backend, VLLMReplica)))
        for replica, load in zip(replicas, loads, strict=True):
            replica.load = load
        await asyncio.sleep(interval)
