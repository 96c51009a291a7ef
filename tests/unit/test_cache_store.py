"""The in-process entry store: LRU, TTL, purge by customer or model."""

from __future__ import annotations

from backends.base import Operation
from gateway.cache.keys import keys_for
from gateway.cache.store import MemoryEntries


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(tenant: str, model: str, text: str) -> str:
    return keys_for(tenant, model, Operation.CHAT, {"messages": [{"role": "user", "content": text}]}).exact


async def test_least_recently_used_entry_goes_first() -> None:
    store = MemoryEntries(capacity=2)
    a, b, c = (entry("c1", "m", t) for t in "abc")
    await store.put(a, b"A", 60)
    await store.put(b, b"B", 60)
    assert await store.get(a) == b"A"  # a is now more recent than b
    await store.put(c, b"C", 60)
    assert (await store.get(a), await store.get(b), await store.get(c)) == (b"A", None, b"C")


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    store = MemoryEntries(capacity=10, clock=clock)
    await store.put(entry("c1", "m", "x"), b"X", 30)
    clock.now = 29.9
    assert await store.get(entry("c1", "m", "x")) == b"X"
    clock.now = 30.0
    assert await store.get(entry("c1", "m", "x")) is None and len(store) == 0


async def test_purge_by_customer_or_model() -> None:
    store = MemoryEntries(capacity=10)
    for tenant in ("c1", "c2"):
        for model in ("m", "n"):
            await store.put(entry(tenant, model, "q"), b"v", 60)
    assert await store.purge("c1", None) == 2
    assert await store.purge(None, "n") == 1
    assert await store.get(entry("c2", "m", "q")) == b"v" and len(store) == 1
