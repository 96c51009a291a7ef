"""What the serving-cost sampler reads from the router: replicas running (none while a pool that
scales to zero sleeps) and busy by vLLM's metrics, for the pools that have a gpu_hour_usd."""

from __future__ import annotations

import time
from typing import Any, cast

import msgspec

from backends.base import BackendContext
from backends.vllm import EngineLoad
from gateway.metering.pool_hours import Reading, pool_prices
from gateway.routing.pool_readings import readings
from gateway.routing.table import RoutingTable
from gateway.routing.wake import Phase
from gateway.settings import Settings
from gateway.tokens import Tokenizer

CONFIG = {
    "backends": {
        "sleepy": {
            "type": "vllm",
            "urls": ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"],
            "gpu_hour_usd": "2.00",
            "min_replicas": 0,
            "idle_after": 60,
        },
        "steady": {"type": "vllm", "urls": ["http://127.0.0.1:11/v1"], "gpu_hour_usd": "1.10"},
        "unpriced": {"type": "vllm", "urls": ["http://127.0.0.1:12/v1"]},
        "provider": {"type": "simulator"},
    },
    "models": [
        {"name": n, "deployments": [{"backend": n, "model": "m"}]} for n in ("sleepy", "steady", "unpriced", "provider")
    ],
}


def table() -> tuple[RoutingTable, Settings]:
    settings = msgspec.convert(CONFIG, Settings)
    ctx = BackendContext(http=cast(Any, None), tokens=Tokenizer())  # nothing is sent
    return RoutingTable(settings, ctx, time.monotonic, None), settings


def test_priced_pools_are_read_with_their_running_and_busy_replicas() -> None:
    routing, settings = table()
    priced = pool_prices(settings)
    assert set(priced) == {"sleepy", "steady"}
    assert readings(routing, priced) == [Reading("sleepy", 2, None), Reading("steady", 1, None)]

    sleepy, steady = routing.pools["sleepy"], routing.pools["steady"]
    sleepy.replicas[0].load = EngineLoad(running=2)
    sleepy.replicas[1].load = EngineLoad()
    steady.replicas[0].healthy = False
    assert readings(routing, priced) == [Reading("sleepy", 2, 1), Reading("steady", 0, None)]


def test_a_sleeping_pool_runs_no_replica() -> None:
    routing, settings = table()
    wake = routing.pools["sleepy"].wake
    assert wake is not None
    wake.phase = Phase.ASLEEP  # as the monitor leaves it once it stopped the pool

    assert readings(routing, pool_prices(settings))[0] == Reading("sleepy", 0, None)
