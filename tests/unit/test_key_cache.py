"""The in-process key cache: concurrent misses share one read, and a read begun before its key
changed is not cached."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.errors import AuthenticationFailed
from gateway.keys.cache import KeyCache, KeyStoreUnavailable
from gateway.keys.material import hash_key
from gateway.keys.principal import Principal

SECRET = "tg-secret"
BEARER = f"Bearer {SECRET}"


class SlowStore:
    """A key store whose reads wait until the test lets them finish."""

    def __init__(self) -> None:
        self.reads = 0
        self.revoked = False
        self.release = asyncio.Event()

    async def load(self, key_hash: str) -> Principal | None:
        self.reads += 1
        revoked = self.revoked  # the row as it was when the read began
        await self.release.wait()
        return Principal(key_id=1, key_hash=key_hash, customer_id=1, customer_name="acme", revoked=revoked)


async def test_concurrent_requests_for_an_uncached_key_share_one_read() -> None:
    store = SlowStore()
    cache = KeyCache(store.load)
    waiting = [asyncio.ensure_future(cache.authenticate(BEARER)) for _ in range(50)]
    await asyncio.sleep(0.01)
    store.release.set()
    principals = await asyncio.gather(*waiting)
    assert store.reads == 1
    assert {p.customer_name for p in principals} == {"acme"}
    await cache.authenticate(BEARER)
    assert store.reads == 1  # cached now


async def test_a_cancelled_request_does_not_cancel_the_read_the_others_wait_for() -> None:
    store = SlowStore()
    cache = KeyCache(store.load)
    first, second = (asyncio.ensure_future(cache.authenticate(BEARER)) for _ in range(2))
    await asyncio.sleep(0.01)
    first.cancel()
    store.release.set()
    assert (await second).customer_name == "acme"
    assert store.reads == 1


async def test_a_read_begun_before_the_key_was_revoked_is_not_cached() -> None:
    store = SlowStore()
    cache = KeyCache(store.load)
    before = asyncio.ensure_future(cache.authenticate(BEARER))
    await asyncio.sleep(0.01)
    store.revoked = True
    cache.invalidate(hash_key(SECRET))  # the revocation arrives while the read is in flight
    store.release.set()
    await before  # served with what it read
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await cache.authenticate(BEARER)  # read again, not answered from the stale read
    assert store.reads == 2


async def test_a_failing_store_fails_every_waiting_request_and_the_next_one_reads_again() -> None:
    calls = 0

    async def load(key_hash: str) -> Principal | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise OSError("database unreachable")
        return Principal(key_id=1, key_hash=key_hash, customer_id=1, customer_name="acme")

    cache = KeyCache(load)
    results = await asyncio.gather(*(cache.authenticate(BEARER) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, KeyStoreUnavailable) for r in results)
    assert (await cache.authenticate(BEARER)).customer_name == "acme"
    assert calls == 2
