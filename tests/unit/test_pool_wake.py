"""Scale to zero's state machine (gateway/routing/wake.py) on a fake clock: idle -> asleep -> waking ->
awake, the queue while it wakes, the fallback's refusal, the cold-start deadline, failed stops and starts."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from backends.base import Backend
from gateway.config.routing import BreakerSettings
from gateway.core.errors import Overloaded
from gateway.routing.replicas import Replica
from gateway.routing.wake import Phase, Wake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """A replica's backend: ``ready`` answers what the test says (a server not started is not ready)."""

    name = "pool"

    def __init__(self) -> None:
        self.up = True

    async def ready(self) -> bool:
        return self.up


class Control:
    def __init__(self, servers: list[Server], clock: Clock, start_seconds: float = 0.0) -> None:
        self.servers = servers
        self.clock = clock
        self.start_seconds = start_seconds
        self.calls: list[str] = []
        self.fail: str | None = None

    async def stop(self) -> None:
        self.calls.append("stop")
        if self.fail == "stop":
            raise OSError("control endpoint unreachable")
        for server in self.servers:
            server.up = False

    async def start(self) -> None:
        self.calls.append("start")
        if self.fail == "start":
            raise OSError("control endpoint unreachable")
        self.clock.now += self.start_seconds  # the start itself takes this long
        for server in self.servers:
            server.up = True


def pool(idle_after: float = 60.0, max_wait: float = 30.0, queue_size: int = 4, start_seconds: float = 12.0) -> Any:
    clock = Clock()
    servers = [Server(), Server()]
    replicas = [Replica(f"r{i}", cast(Backend, s), BreakerSettings()) for i, s in enumerate(servers)]
    control = Control(servers, clock, start_seconds)

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    wake = Wake(
        "gpu",
        replicas,
        control,
        clock,
        idle_after=idle_after,
        max_wait=max_wait,
        queue_size=queue_size,
        sleep=no_wait,
    )
    return wake, clock, control, servers


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_pool_sleeps_only_after_idle_after_without_a_request() -> None:
    wake, clock, control, _ = pool(idle_after=60)
    clock.now += 59
    assert not wake.idle(busy=False)
    await wake.admit(last_resort=True)  # a request: idle from now again
    clock.now += 59
    assert not wake.idle(busy=False) and wake.phase is Phase.AWAKE
    clock.now += 1
    assert not wake.idle(busy=True)  # requests in flight or queued keep it awake
    assert wake.idle(busy=False)
    await settle()
    assert wake.phase is Phase.ASLEEP and control.calls == ["stop"]
    assert wake.running() == 0 and not any(r.healthy for r in wake.replicas)
    assert not wake.idle(busy=False)  # asleep already: not stopped twice
    assert control.calls == ["stop"]


async def test_the_next_request_wakes_it_and_waits_for_a_ready_replica() -> None:
    wake, clock, control, _ = pool(idle_after=60, start_seconds=12)
    clock.now += 60
    wake.idle(busy=False)
    await settle()
    await wake.admit(last_resort=True)
    assert wake.phase is Phase.AWAKE and control.calls == ["stop", "start"]
    assert wake.cold_starts == [12.0] and wake.last_cold_start == 12.0
    assert wake.running() == 2


async def test_with_a_fallback_the_request_is_refused_at_once_while_the_pool_wakes() -> None:
    wake, clock, control, _ = pool(start_seconds=12)
    clock.now += 60
    wake.idle(busy=False)
    await settle()
    with pytest.raises(Overloaded) as refused:
        await wake.admit(last_resort=False)
    assert refused.value.headers["retry-after"] == "30"  # no cold start measured yet: the longest wait
    assert wake.phase is Phase.WAKING
    assert wake.pending(in_flight=0, queued=0) == 1  # KEDA sees demand though the fallback served it
    await settle()
    assert wake.phase is Phase.AWAKE and control.calls == ["stop", "start"]  # woken once
    assert wake.pending(in_flight=0, queued=0) == 0


async def test_a_pool_that_does_not_wake_in_time_is_a_503_with_retry_after() -> None:
    wake, clock, control, servers = pool(max_wait=0.05, start_seconds=0)
    clock.now += 60
    wake.idle(busy=False)
    await settle()
    control.start = _never_ready(servers)  # type: ignore[method-assign]
    with pytest.raises(Overloaded) as refused:
        await wake.admit(last_resort=True)
    assert "did not wake within 0.05 s" in refused.value.message
    assert refused.value.headers["retry-after"] == "1" and refused.value.http_status == 503
    assert wake.waiting == 0
    await wake.aclose()


def _never_ready(servers: list[Server]) -> Any:
    async def start() -> None:
        for server in servers:
            server.up = False

    return start


async def test_the_queue_while_waking_is_bounded() -> None:
    wake, clock, _, servers = pool(queue_size=2, max_wait=5)
    clock.now += 60
    wake.idle(busy=False)
    await settle()
    gate = asyncio.Event()
    wake.control.start = _held(gate)  # the start takes until the gate opens
    waiters = [asyncio.create_task(wake.admit(last_resort=True)) for _ in range(2)]
    await settle()
    assert wake.waiting == 2
    with pytest.raises(Overloaded, match="queue is full"):
        await wake.admit(last_resort=True)
    for server in servers:
        server.up = True
    gate.set()
    await asyncio.gather(*waiters)
    assert wake.waiting == 0 and wake.phase is Phase.AWAKE


def _held(gate: asyncio.Event) -> Any:
    async def start() -> None:
        await gate.wait()

    return start


async def test_replicas_found_down_mean_asleep_the_next_request_wakes_them() -> None:
    """Started at zero, or scaled to zero by KEDA: nobody put it to sleep, its replicas are down."""
    wake, _, control, servers = pool()
    for replica in wake.replicas:
        replica.healthy = False
    for server in servers:
        server.up = False
    await wake.admit(last_resort=True)
    assert control.calls == ["start"] and wake.phase is Phase.AWAKE


async def test_a_failed_stop_keeps_the_pool_awake_and_idle_from_then() -> None:
    wake, clock, control, _ = pool(idle_after=60)
    control.fail = "stop"
    clock.now += 60
    assert wake.idle(busy=False)
    await settle()
    assert wake.phase is Phase.AWAKE and wake.running() == 2  # probed: its replicas take requests again
    assert not wake.idle(busy=False)  # the idle clock restarted with the failure
    clock.now += 60
    assert wake.idle(busy=False)


async def test_a_failed_start_leaves_it_asleep_and_the_next_request_tries_again() -> None:
    wake, clock, control, _ = pool(max_wait=0.05)
    clock.now += 60
    wake.idle(busy=False)
    await settle()
    control.fail = "start"
    with pytest.raises(Overloaded):
        await wake.admit(last_resort=True)
    assert wake.phase is Phase.ASLEEP
    control.fail = None
    await wake.admit(last_resort=True)
    assert wake.phase is Phase.AWAKE and control.calls == ["stop", "start", "start"]


async def test_retry_after_follows_the_last_cold_start() -> None:
    wake, clock, _, _ = pool(start_seconds=7.2)
    for _ in range(2):
        clock.now += 60
        wake.idle(busy=False)
        await settle()
        try:
            await wake.admit(last_resort=False)
        except Overloaded as exc:
            retry_after = exc.headers["retry-after"]
        await settle()
    assert retry_after == "8"  # the first cold start took 7.2 s
