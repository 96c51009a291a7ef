"""Breakers, retry decisions, the admission queue, canary verdicts and region order."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config.routing import BreakerSettings, RetrySettings, Rollout
from gateway.core.errors import InvalidRequest, Overloaded, UpstreamStatusError, UpstreamTimeout, UpstreamUnreachable
from gateway.routing import retry
from gateway.routing.queue import WaitQueue
from gateway.routing.regions import by_region
from gateway.routing.replicas import Breaker, Circuit
from gateway.routing.rollout import Evidence, Scores, worse
from gateway.routing.tallies import Summary


def status(code: int, message: str = "nope", retry_after: str | None = None) -> UpstreamStatusError:
    headers = {"retry-after": retry_after} if retry_after else None
    return UpstreamStatusError(message, upstream_status=code, headers=headers)


def test_breaker_opens_after_failures_in_a_row_and_probes_once_after_cooldown() -> None:
    breaker = Breaker(BreakerSettings(failures=3, cooldown=10))
    assert not breaker.failed(0) and not breaker.failed(1)
    breaker.succeeded()  # a success resets the count
    assert not breaker.failed(2) and not breaker.failed(3) and breaker.failed(4)
    assert breaker.state is Circuit.OPEN and not breaker.available(13.9)
    assert breaker.available(14.0)
    breaker.begin(14.0)  # the half-open probe
    assert breaker.state is Circuit.HALF_OPEN and not breaker.available(14.1)
    assert breaker.failed(15.0) and not breaker.available(24.9)  # a failed probe re-opens it
    breaker.begin(25.0)
    breaker.succeeded()
    assert breaker.state is Circuit.CLOSED and breaker.available(25.1)


def test_a_breaker_follows_another_gateways_news_of_the_same_replica() -> None:
    breaker = Breaker(BreakerSettings(failures=3, cooldown=10))
    breaker.follow(Circuit.OPEN, 100.0)  # opened elsewhere: its cooldown starts here
    assert breaker.state is Circuit.OPEN and not breaker.available(109.9) and breaker.available(110.0)
    breaker.follow(Circuit.CLOSED, 101.0)  # a probe succeeded elsewhere
    assert breaker.state is Circuit.CLOSED and breaker.available(101.0) and breaker.failures == 0


def test_what_is_retried_and_what_falls_back() -> None:
    for exc in (UpstreamUnreachable("x"), UpstreamTimeout("x"), status(500), status(503), status(429)):
        assert retry.retryable(exc) and retry.falls_back(exc)
    assert not retry.retryable(status(400)) and not retry.falls_back(status(400))
    assert not retry.falls_back(InvalidRequest("bad"))
    vllm = "This model's maximum context length is 1024 tokens. However, you requested 1500 tokens."
    assert retry.context_overflow(status(400, vllm)) and retry.falls_back(status(400, vllm))
    assert not retry.retryable(status(400, vllm))  # the same deployment would refuse it again
    assert retry.falls_back(Overloaded("busy"))
    assert retry.blames_replica(status(502)) and not retry.blames_replica(status(429))


def test_retry_delay_honours_retry_after_and_gives_up_when_it_is_too_long() -> None:
    settings = RetrySettings(attempts=3, backoff=0.1, max_backoff=1.0, max_retry_after=5)
    assert retry.delay(settings, 0, status(429, retry_after="2"), draw=0.5) == 2.0
    assert retry.delay(settings, 0, status(429, retry_after="7"), draw=0.5) is None  # fall back instead
    assert retry.delay(settings, 0, status(500), draw=0.5) == pytest.approx(0.05)
    assert retry.delay(settings, 1, status(500), draw=0.5) == pytest.approx(0.1)
    assert retry.delay(settings, 2, status(500), draw=0.5) is None  # third try was the last
    assert retry.delay(settings, 0, status(404), draw=0.5) is None


async def test_queue_serves_the_higher_tier_first_and_refuses_after_max_wait() -> None:
    queue = WaitQueue("pool", size=10, max_wait=0.5)
    room = False
    served: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await queue.wait_for_room(priority, lambda: room)
        served.append(name)

    low = asyncio.create_task(wait("low", 5))
    await asyncio.sleep(0.01)
    high = asyncio.create_task(wait("high", 0))
    await asyncio.sleep(0.01)
    assert len(queue) == 2 and served == []
    queue.wake()
    await asyncio.sleep(0.01)
    assert served == ["high"]  # came later, served first
    with pytest.raises(Overloaded) as refused:
        await low
    assert refused.value.http_status == 503 and refused.value.headers["retry-after"] == "1"
    assert len(queue) == 0
    await high


async def test_full_queue_refuses_at_once() -> None:
    queue = WaitQueue("pool", size=1, max_wait=5)
    waiting = asyncio.create_task(queue.wait_for_room(0, lambda: False))
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded, match="queue is full"):
        await queue.wait_for_room(0, lambda: False)
    waiting.cancel()


def judge(canary: Summary, stable: Summary, rollout: Rollout) -> str | None:
    return worse(rollout, Evidence(canary, stable, Scores(), Scores(), stage_seconds=0))


def test_canary_verdict() -> None:
    rollout = Rollout(backend="canary", model="m", error_margin=0.05, latency_margin=0.5, min_requests=20)
    stable = Summary(requests=100, error_rate=0.01, p99=0.2)
    assert judge(Summary(10, 0.5, 0.2), stable, rollout) is None  # too few requests to judge
    assert judge(Summary(40, 0.05, 0.25), stable, rollout) is None  # within both margins
    assert "error rate" in (judge(Summary(40, 0.10, 0.2), stable, rollout) or "")
    assert "p99" in (judge(Summary(40, 0.0, 0.31), stable, rollout) or "")


def test_region_order() -> None:
    regions = ["us-east", "eu-west", None, "us-west", "ap-south"]
    nearest = {"eu-west": ["us-east", "us-west"]}
    assert by_region(regions, None, nearest) == [0, 1, 2, 3, 4]
    assert by_region(regions, "eu-west", nearest) == [1, 0, 3, 2, 4]
    assert by_region(regions, "us-west", nearest) == [3, 2, 0, 1, 4]


async def test_a_waiter_that_times_out_hands_nothing_on() -> None:
    queue = WaitQueue("pool", size=10, max_wait=0.2)
    first = asyncio.create_task(queue.wait_for_room(0, lambda: False))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(queue.wait_for_room(0, lambda: False))
    with pytest.raises(Overloaded):
        await first
    assert not second.done() and len(queue) == 1  # still waiting, its own time not yet up
    with pytest.raises(Overloaded):
        await second
