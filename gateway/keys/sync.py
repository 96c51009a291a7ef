"""Spreading key changes to every replica's cache: Redis pub/sub, backed by a database poll."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.core.background import subscribe_forever
from gateway.core.throttled_log import ThrottledLog
from gateway.keys.cache import KeyCache

log = logging.getLogger("tollgate.auth")

# Rows written by another host's clock may land a little in our past; look back this much further.
_OVERLAP = dt.timedelta(seconds=5)

ChangedSince = Callable[[dt.datetime], Awaitable[dict[str, dt.datetime]]]


class KeySync:
    def __init__(
        self, cache: KeyCache, changed_since: ChangedSince, redis: Any | None, poll_seconds: float, namespace: str
    ) -> None:
        self._channel = f"{namespace}:keys:changed"
        self._cache = cache
        self._changed_since = changed_since
        self._redis = redis
        self._poll_seconds = poll_seconds
        # Changes the poll has already applied, by key hash: the overlap re-reads each change for a few
        # polls, and evicting the key again every time would send its requests to the database.
        self._applied: dict[str, dt.datetime] = {}
        self._redis_warnings = ThrottledLog(log)  # the subscription retries every second while Redis is down

    async def key_changed(self, key_hash: str) -> None:
        """Called where a key is revoked or edited: forget it here, and tell the other replicas."""
        self._cache.invalidate(key_hash)
        if self._redis is not None:
            try:
                await self._redis.publish(self._channel, key_hash)
            except Exception as exc:  # the poll still spreads the change within poll_seconds
                log.warning("could not publish a key change to Redis: %s", exc)

    async def poll_forever(self) -> None:
        since = dt.datetime.now(dt.UTC)
        while True:
            await asyncio.sleep(self._poll_seconds)
            started = dt.datetime.now(dt.UTC)
            try:
                await self._apply(await self._changed_since(since - _OVERLAP), since - _OVERLAP)
                since = started
            except Exception as exc:
                log.warning("key change poll failed (keys stay cached): %s", exc)

    async def _apply(self, changes: dict[str, dt.datetime], horizon: dt.datetime) -> None:
        fresh = {h: at for h, at in changes.items() if self._applied.get(h) != at}
        self._applied.update(fresh)
        self._applied = {h: at for h, at in self._applied.items() if at > horizon}
        # Re-read rather than evict: a key changed (or created) just before the database goes down
        # stays served from its cached copy; a failed re-read evicts it.
        await asyncio.gather(*(self._cache.refresh(h) for h in fresh))

    async def listen_forever(self) -> None:
        if self._redis is None:
            return
        await subscribe_forever(self._redis, self._channel, self._take, self._redis_warnings, "key-change")

    async def _take(self, data: Any) -> None:
        self._cache.invalidate(data.decode() if isinstance(data, bytes) else str(data))
