"""The key poll re-reads a changed key once per change, although its look-back window sees it again, and
keeps serving it from memory if the database goes down afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import pytest

from gateway.core.errors import AuthenticationFailed
from gateway.keys.cache import KeyCache
from gateway.keys.material import hash_key
from gateway.keys.principal import Principal
from gateway.keys.sync import KeySync

SECRET = "tg-secret"


async def test_a_change_seen_by_several_polls_evicts_the_key_once() -> None:
    loads = 0

    async def load(key_hash: str) -> Principal:
        nonlocal loads
        loads += 1
        return Principal(key_id=1, key_hash=key_hash, customer_id=1, customer_name="acme")

    first = dt.datetime.now(dt.UTC)  # inside the look-back window, as a real change would be
    changes = {hash_key(SECRET): first}

    async def changed_since(since: dt.datetime) -> dict[str, dt.datetime]:
        return dict(changes)  # every poll's overlap window still holds the change

    cache = KeyCache(load)
    sync = KeySync(cache, changed_since, None, poll_seconds=0.01, namespace="test")
    polling = asyncio.create_task(sync.poll_forever())
    try:
        await cache.authenticate(f"Bearer {SECRET}")
        for _ in range(10):
            await asyncio.sleep(0.02)
            await cache.authenticate(f"Bearer {SECRET}")
        assert loads == 2  # the first use, then once after the change

        changes[hash_key(SECRET)] = first + dt.timedelta(seconds=1)  # changed again
        for _ in range(10):
            await asyncio.sleep(0.02)
            await cache.authenticate(f"Bearer {SECRET}")
        assert loads == 3
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


async def test_a_key_the_poll_saw_change_is_still_served_when_the_database_then_goes_down() -> None:
    rows = {"revoked": False, "down": False}

    async def load(key_hash: str) -> Principal:
        if rows["down"]:
            raise ConnectionError("database unreachable")
        return Principal(key_id=1, key_hash=key_hash, customer_id=1, customer_name="acme", revoked=rows["revoked"])

    changes: dict[str, dt.datetime] = {}

    async def changed_since(since: dt.datetime) -> dict[str, dt.datetime]:
        return dict(changes)

    cache = KeyCache(load)
    sync = KeySync(cache, changed_since, None, poll_seconds=0.01, namespace="test")
    polling = asyncio.create_task(sync.poll_forever())
    try:
        await cache.authenticate(f"Bearer {SECRET}")
        changes[hash_key(SECRET)] = dt.datetime.now(dt.UTC)  # the key was just created
        await asyncio.sleep(0.1)  # several polls see it
        rows["down"] = True
        assert (await cache.authenticate(f"Bearer {SECRET}")).key_id == 1  # served from the cached copy

        rows["down"] = False
        rows["revoked"] = True
        changes[hash_key(SECRET)] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        await asyncio.sleep(0.1)
        with pytest.raises(AuthenticationFailed):  # the revocation the poll read takes effect
            await cache.authenticate(f"Bearer {SECRET}")
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
