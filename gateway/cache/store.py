"""Where cached answers live: an LRU in this process, or Redis shared by every replica.

Entries are the encoded answer, stored under the key from :mod:`gateway.cache.keys` with a TTL.
A purge finds one customer's or one model's entries by the key's glob-safe prefix.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

from gateway.cache.keys import model_tag
from gateway.core.redis_pipe import RedisPipe


class EntryStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def purge(self, tenant: str | None, model: str | None) -> int:
        """Delete the entries of ``tenant`` and/or ``model`` (both None: all); returns how many."""
        ...


def _matches(key: str, tenant: str | None, model: str | None) -> bool:
    owner, tag, _ = key.split(":", 2)
    return (tenant is None or owner == tenant) and (model is None or tag == model_tag(model))


class MemoryEntries:
    """The embedded default: at most ``capacity`` entries, least recently used evicted first."""

    def __init__(self, capacity: int, clock: Any = time.monotonic) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        doomed = [key for key in self._entries if _matches(key, tenant, model)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._entries)


class RedisEntries:
    """Entries shared by every replica, each a Redis string with its TTL (Redis evicts, not us). They
    travel on the gateway's pipelined connection (:mod:`gateway.core.redis_pipe`), which admission
    shares: a hit is one GET on it."""

    def __init__(self, pipe: RedisPipe, namespace: str) -> None:
        self._pipe = pipe
        self._prefix = f"{namespace}:cache:e:"

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._pipe.call("GET", self._prefix + key)
        return value

    async def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._pipe.call("SET", self._prefix + key, value, "EX", ttl_seconds)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        pattern = f"{self._prefix}{tenant or '*'}:{model_tag(model) if model else '*'}:*"
        deleted, cursor = 0, b"0"
        while True:
            cursor, found = await self._pipe.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            if found:
                deleted += await self._pipe.call("UNLINK", *found)
            if cursor == b"0":
                return deleted
