"""The dashboard's sign-in throttle and revoked sessions, on a clock the test turns."""

from __future__ import annotations

import logging
from typing import cast

import pytest

from gateway.core.redis_pipe import RedisPipe
from gateway.dashboard.session import LIFETIME_SECONDS, Session
from gateway.dashboard.sign_in import SignInGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_five_failures_a_minute_lock_an_address_until_the_oldest_is_a_minute_old() -> None:
    clock = Clock()
    guard = SignInGuard(clock=clock)
    for _ in range(5):
        assert await guard.retry_after("10.0.0.1") is None
        await guard.failed("10.0.0.1")
        clock.now += 5
    assert await guard.retry_after("10.0.0.1") == 35  # the first failure was 25 s ago
    assert await guard.retry_after("10.0.0.2") is None  # another address is not locked out
    clock.now += 35
    assert await guard.retry_after("10.0.0.1") is None


async def test_failures_spread_over_more_than_a_minute_never_lock() -> None:
    clock = Clock()
    guard = SignInGuard(clock=clock)
    for _ in range(20):
        assert await guard.retry_after("10.0.0.1") is None
        await guard.failed("10.0.0.1")
        clock.now += 13


async def test_a_revoked_session_stays_revoked_until_its_cookie_expires() -> None:
    clock = Clock()
    guard = SignInGuard(clock=clock)
    gone, kept = Session("a", int(clock.now)), Session("b", int(clock.now))
    await guard.revoke(gone)
    assert await guard.is_revoked(gone) and not await guard.is_revoked(kept)
    clock.now += LIFETIME_SECONDS + 1
    await guard.revoke(kept)  # forgets revocations whose cookies have expired anyway
    assert list(guard._revoked) == ["b"]


class _DownRedis:
    async def run(self, *_args: object, **_kwargs: object) -> object:
        raise ConnectionError("Connection refused")


async def test_with_redis_down_the_process_counts_alone_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    guard = SignInGuard(cast(RedisPipe, _DownRedis()), clock=clock)
    with caplog.at_level(logging.WARNING, "tollgate.dashboard"):
        for _ in range(5):
            assert await guard.retry_after("10.0.0.1") is None
            await guard.failed("10.0.0.1")
        assert await guard.retry_after("10.0.0.1") == 60  # never open: the local count locks
    assert [r.getMessage() for r in caplog.records] == [
        "the sign-in throttle counts per process while Redis fails: Connection refused"
    ]
