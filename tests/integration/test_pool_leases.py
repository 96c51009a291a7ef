"""Pools' shared leases in process, against the machine's Redis: two routing tables stand for two
gateways; their upstream is never called (a lease is taken and given back around a request)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from backends.base import BackendContext
from backends.http import build_client
from gateway.core.errors import Overloaded
from gateway.core.redis_pipe import RedisPipe
from gateway.routing.pool import Pool
from gateway.routing.shared import SharedRouting
from gateway.routing.table import RoutingTable
from gateway.settings import Settings
from gateway.tokens import Tokenizer
from tests.support.ports import free_port

REDIS = "redis://127.0.0.1:6379/0"


def settings(namespace: str, **pool: Any) -> Settings:
    raw = {
        "backends": {"p": {"type": "vllm", "urls": ["http://127.0.0.1:9/v1"], "max_outstanding": 1, **pool}},
        "models": [{"name": "m", "deployments": [{"backend": "p", "model": "m"}]}],
        "redis_namespace": namespace,
        # Only a Redis message can wake a queued request within these tests' time.
        "routing": {"queue_poll": 60, "lease_seconds": 60},
    }
    return msgspec.convert(raw, Settings)


@asynccontextmanager
async def gateway(config: Settings, url: str = REDIS) -> AsyncIterator[Pool]:
    pipe, redis, http = RedisPipe(url), Redis.from_url(url), build_client()
    shared = SharedRouting(pipe, redis, config.redis_namespace, config.routing)
    table = RoutingTable(config, BackendContext(http, Tokenizer()), time.monotonic, None, shared)
    follower = asyncio.create_task(shared.follow_forever(lambda: table))
    await asyncio.sleep(0.1)  # subscribed
    try:
        yield table.pools["p"]
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await pipe.aclose()
        await redis.aclose()
        await http.close()


async def acquire(pool: Pool, priority: int = 0) -> Any:
    return await pool.acquire(priority, lambda: None, set(), last_resort=True)


async def count(key: str) -> int:
    redis = Redis.from_url(REDIS)
    try:
        return int(await redis.zcard(key))
    finally:
        await redis.aclose()


@pytest.fixture
def namespace() -> str:
    return f"tollgate-test-{uuid.uuid4().hex[:8]}"


async def test_a_lease_given_back_on_one_gateway_wakes_a_request_queued_on_another(namespace: str) -> None:
    config = settings(namespace)
    async with gateway(config) as first, gateway(config) as second:
        held = await acquire(first)
        waiting = asyncio.ensure_future(acquire(second))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the pool's one lease is held on the other gateway
        assert (first.waiting(), second.waiting()) == (0, 1)  # what tollgate_queue_depth reports
        held.done(None)
        lease = await asyncio.wait_for(waiting, 5)  # the queue polls every 60 s: the message woke it
        assert lease.shared_id is not None
        lease.done(None)
        await asyncio.sleep(0.2)
        assert await count(f"{namespace}:pool:p:leases:http://127.0.0.1:9/v1") == 0


async def test_a_request_cancelled_in_the_queue_leaves_it_and_a_full_queue_refuses(namespace: str) -> None:
    config = settings(namespace, queue_size=1)
    async with gateway(config) as first, gateway(config) as second:
        held = await acquire(first)
        waiting = asyncio.ensure_future(acquire(second))
        await asyncio.sleep(0.3)
        assert await count(f"{namespace}:pool:p:queue") == 1
        with pytest.raises(Overloaded, match="queue is full"):  # the bound is the deployment's
            await acquire(first)
        waiting.cancel()  # the client left while it waited
        await asyncio.sleep(0.3)
        assert await count(f"{namespace}:pool:p:queue") == 0
        again = asyncio.ensure_future(acquire(first))  # the queue has room again
        await asyncio.sleep(0.3)
        assert not again.done()
        held.done(None)
        (await asyncio.wait_for(again, 5)).done(None)


async def test_without_redis_a_pool_keeps_this_gateways_own_bound(namespace: str) -> None:
    async with gateway(settings(namespace), f"redis://127.0.0.1:{free_port()}/0") as pool:
        lease = await acquire(pool)  # Redis refuses the connection: the in-process bound serves
        assert lease.shared_id is None
        waiting = asyncio.ensure_future(acquire(pool))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # max_outstanding 1 still holds here
        lease.done(None)
        (await asyncio.wait_for(waiting, 5)).done(None)


async def test_batch_lines_of_two_gateways_never_pass_the_gate_on_one_count(namespace: str) -> None:
    config = settings(namespace, max_outstanding=4)
    async with gateway(config) as first, gateway(config) as second:
        replicas = [r.key for r in first.replicas]

        async def admit(pool: Pool, n: int) -> bool:
            assert pool.shared is not None
            return await pool.shared.leases.admit("p", replicas, f"line-{n}", 2)

        # Twenty lines at once, half on each gateway: the limit is every gateway's, checked atomically.
        admitted = await asyncio.gather(*(admit((first, second)[n % 2], n) for n in range(20)))
        assert sum(admitted) == 2
        assert await count(f"{namespace}:pool:p:gate") == 2
        assert not await admit(first, 20)
        winner = admitted.index(True)
        owner = (first, second)[winner % 2].shared
        assert owner is not None
        owner.leases.leave("p", f"line-{winner}")
        await asyncio.sleep(0.2)  # the leave is sent without waiting
        assert await admit(second, 21)  # room again: one line ended
        assert not await admit(first, 22)


async def test_an_idle_pool_admits_one_line_even_with_no_room_for_batches(namespace: str) -> None:
    async with gateway(settings(namespace)) as pool:
        assert pool.shared is not None
        replicas = [r.key for r in pool.replicas]
        assert await pool.shared.leases.admit("p", replicas, "one", 0)
        assert not await pool.shared.leases.admit("p", replicas, "two", 0)
        lease = await acquire(pool)  # an interactive request while the line runs: still busy
        pool.shared.leases.leave("p", "one")
        await asyncio.sleep(0.2)
        assert not await pool.shared.leases.admit("p", replicas, "three", 0)
        lease.done(None)
        await asyncio.sleep(0.2)
        assert await pool.shared.leases.admit("p", replicas, "four", 0)
