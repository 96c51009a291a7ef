"""The admission counters, on the real Redis (Lua) and in-process: the same behaviour, case by case."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.admission.decision import Decision, SeedNeeded
from gateway.admission.memory import MemoryStore
from gateway.admission.redis_store import RedisStore
from gateway.admission.rules import Ask, Credit, ScopeLimits
from gateway.admission.store import AdmissionStore, budget_key, slots_key
from gateway.core.redis_pipe import RedisPipe


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[AdmissionStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    pipe = RedisPipe("redis://127.0.0.1:6379/0")
    try:
        yield RedisStore(pipe, f"tollgate-test-{random.randrange(10**9)}")
    finally:
        await pipe.aclose()


def scope(**limits: int | str | None) -> ScopeLimits:
    return ScopeLimits(f"key:{random.randrange(10**12)}", **limits)  # type: ignore[arg-type]


def ask(n: int, tokens: int = 0, cost: int = 0, now_ms: int | None = None) -> Ask:
    return Ask(f"req_{n}_{random.randrange(10**9)}", tokens, cost, now_ms or int(time.time() * 1000))


async def admitted(
    store: AdmissionStore, scopes: list[ScopeLimits], request: Ask, credit: Credit | None = None
) -> Decision:
    decision = await store.reserve(scopes, credit, request)
    assert isinstance(decision, Decision)
    return decision


async def test_requests_per_minute_admit_a_burst_then_refuse(store: AdmissionStore) -> None:
    limits = [scope(rpm=5)]
    now = int(time.time() * 1000)
    results = [await admitted(store, limits, ask(i, now_ms=now)) for i in range(7)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    assert results[0].requests is not None and results[0].requests.limit == 5
    assert [r.requests.remaining for r in results[:5] if r.requests] == [4, 3, 2, 1, 0]
    assert results[5].reason == "requests" and 11_000 <= results[5].retry_after_ms <= 12_000  # one per 12 s


async def test_a_failed_request_gives_its_request_back(store: AdmissionStore) -> None:
    limits = [scope(rpm=1)]
    first = ask(1)
    assert (await admitted(store, limits, first)).allowed
    assert not (await admitted(store, limits, ask(2))).allowed
    await store.settle(limits, None, first, 0, 0, failed=True)
    assert (await admitted(store, limits, ask(3))).allowed


async def test_tokens_per_minute_reserve_and_settle_what_was_used(store: AdmissionStore) -> None:
    limits = [scope(tpm=1000)]
    big = ask(1, tokens=900)
    assert (await admitted(store, limits, big)).allowed
    assert not (await admitted(store, limits, ask(2, tokens=200))).allowed
    await store.settle(limits, None, big, 100, 0, failed=False)  # it used far less than it reserved
    decision = await admitted(store, limits, ask(3, tokens=200))
    assert decision.allowed and decision.tokens is not None and 690 <= decision.tokens.remaining <= 700
    too_big = await admitted(store, limits, ask(4, tokens=1001))
    assert not too_big.allowed and too_big.reason == "too_large"


async def test_concurrency_slots_are_held_until_settled(store: AdmissionStore) -> None:
    limits = [scope(max_concurrency=2)]
    held = [ask(1), ask(2)]
    for request in held:
        assert (await admitted(store, limits, request)).allowed
    refused = await admitted(store, limits, ask(3))
    assert not refused.allowed and refused.reason == "concurrency"
    await store.settle(limits, None, held[0], 0, 0, failed=False)
    assert (await admitted(store, limits, ask(4))).allowed


async def test_a_lease_whose_holder_died_stops_counting_once_it_expires() -> None:
    """On Redis, a request that never settled (its gateway was killed) holds its slot only until its
    lease runs out; the next settlement of that scope removes the expired lease."""
    namespace = f"tollgate-test-{random.randrange(10**9)}"
    pipe = RedisPipe("redis://127.0.0.1:6379/0")
    store = RedisStore(pipe, namespace)
    limits = [scope(max_concurrency=1)]
    dead, slots = ask(1), f"{namespace}:{slots_key(limits[0])}"
    try:
        assert (await admitted(store, limits, dead)).allowed
        assert (await admitted(store, limits, ask(2))).reason == "concurrency"
        async with Redis.from_url("redis://127.0.0.1:6379/0") as redis:
            await redis.zadd(slots, {dead.request_id: 1})  # its lease ran out long ago
            survivor = ask(3)
            assert (await admitted(store, limits, survivor)).allowed
            assert await redis.zcard(slots) == 2  # the expired lease is not counted, and still there
            await store.settle(limits, None, survivor, 0, 0, failed=False)
            assert await redis.zcard(slots) == 0
    finally:
        await pipe.aclose()


async def test_budget_is_seeded_then_stops_before_it_is_exceeded(store: AdmissionStore) -> None:
    limits = [scope(budget_micros=1000, budget_period="day", warning_percent=50)]
    first = ask(1, cost=300)
    need = await store.reserve(limits, None, first)
    assert isinstance(need, SeedNeeded) and need.kind == "budget"
    await store.seed_budget(budget_key(limits[0], first.now_ms), 400, 60_000)  # spent earlier today
    decision = await admitted(store, limits, first)
    assert decision.allowed and decision.budget_warning  # 700 of 1000 is past 50 %
    refused = await admitted(store, limits, ask(2, cost=301))  # 700 + 301 > 1000
    assert not refused.allowed and refused.reason == "budget"
    await store.settle(limits, None, first, 0, 100, failed=False)  # it cost 100, not 300
    assert (await admitted(store, limits, ask(3, cost=500))).allowed  # 500 + 500 = 1000


async def test_credits_never_go_below_the_grace(store: AdmissionStore) -> None:
    credit = Credit(f"customer:{random.randrange(10**12)}", 1, grace_micros=50)
    first = ask(1, cost=80)
    assert isinstance(await store.reserve([], credit, first), SeedNeeded)
    await store.seed_credit(credit, 100, [7])
    assert (await admitted(store, [], first, credit)).allowed
    assert not (await admitted(store, [], ask(2, cost=71), credit)).allowed  # 100 - 80 - 71 < -50
    assert (await admitted(store, [], ask(3, cost=70), credit)).allowed  # exactly -50
    await store.apply_topups(credit, [(7, 1000), (8, 25)])  # 7 is already in the seeded balance
    assert (await admitted(store, [], ask(4, cost=25), credit)).allowed
    assert not (await admitted(store, [], ask(5, cost=1), credit)).allowed
    await store.apply_topups(credit, [(8, 25)])  # replayed: applied once only
    assert not (await admitted(store, [], ask(6, cost=1), credit)).allowed


async def test_a_refusal_in_one_scope_consumes_nothing_in_another(store: AdmissionStore) -> None:
    key, customer = scope(rpm=10), scope(rpm=1)
    assert (await admitted(store, [key, customer], ask(1))).allowed
    for n in range(5):
        assert not (await admitted(store, [key, customer], ask(2 + n))).allowed
    decision = await admitted(store, [key], ask(9))
    assert decision.requests is not None and decision.requests.remaining == 8  # only the first counted
