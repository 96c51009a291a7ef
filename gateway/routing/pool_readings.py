"""What each priced pool runs and how busy it is, read from the router's pools for the GPU-hour sampler
(:mod:`gateway.metering.pool_hours`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from gateway.metering.pool_hours import Reading
from gateway.routing.table import RoutingTable


def readings(table: RoutingTable, priced: Mapping[str, Decimal]) -> list[Reading]:
    found = []
    for name, pool in table.pools.items():
        if name not in priced:
            continue
        running = pool.wake.running() if pool.wake is not None else sum(r.healthy for r in pool.replicas)
        loads = [r.load for r in pool.replicas if r.healthy and r.load is not None]
        busy = sum(1 for load in loads if load.running or load.waiting) if loads else None
        found.append(Reading(name, running, None if busy is None else min(busy, running)))
    return found
