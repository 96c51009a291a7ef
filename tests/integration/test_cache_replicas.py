"""Two gateway processes sharing a database and the real Redis: an answer stored through one is a hit
on the other, exact at once and by meaning within a second (the semantic index follows a Redis stream)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from backends.base import Operation
from gateway.cache.keys import keys_for
from gateway.cache.store import RedisEntries
from gateway.core.redis_pipe import RedisPipe
from tests.support.gateway_process import create_key, running_gateway

REDIS_URL = "redis://127.0.0.1:6379/0"


def replica_config(database_url: str, workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            {"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}], "cache": {"semantic": True}}
        ],
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "redis_namespace": f"tollgate-test-{uuid.uuid4().hex[:8]}",
        "journal_dir": str(workdir / "journal"),
    }


def _ask(content: str) -> dict[str, Any]:
    return {"model": "sim-chat", "temperature": 0, "messages": [{"role": "user", "content": content}]}


async def test_an_answer_stored_by_one_replica_is_a_semantic_hit_on_the_other(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = replica_config(database_url, tmp_path)
    key = await asyncio.to_thread(create_key, config, tmp_path, "replicated-cache-co")
    with running_gateway(config, tmp_path / "a") as first, running_gateway(config, tmp_path / "b") as second:
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=10) as http:
            stored = await http.post(f"{first}/v1/chat/completions", json=_ask("What is the capital of Italy?"))
            assert stored.headers["x-tollgate-cache"] == "miss"
            started = time.monotonic()
            while True:  # no-store: a miss while the index catches up must not keep the paraphrase's own answer
                other = await http.post(
                    f"{second}/v1/chat/completions",
                    json=_ask("What's the capital of Italy?"),
                    headers={"cache-control": "no-store"},
                )
                if other.headers["x-tollgate-cache"] != "miss":
                    break
                assert time.monotonic() - started < 1.0, "the other replica has not seen the answer within 1 s"
                await asyncio.sleep(0.01)
            exact = await http.post(f"{second}/v1/chat/completions", json=_ask("What is the capital of Italy?"))
    assert (
        other.headers["x-tollgate-cache"] == "semantic" and float(other.headers["x-tollgate-cache-similarity"]) > 0.85
    )
    assert other.json()["choices"] == stored.json()["choices"]
    assert exact.headers["x-tollgate-cache"] == "hit" and exact.json()["choices"] == stored.json()["choices"]


async def test_redis_entries_expire_and_purge_by_customer_or_model() -> None:
    pipe = RedisPipe(REDIS_URL)
    store = RedisEntries(pipe, f"tollgate-test-{uuid.uuid4().hex[:8]}")

    def entry(tenant: str, model: str, question: str = "q") -> str:
        return keys_for(tenant, model, Operation.CHAT, {"messages": [{"role": "user", "content": question}]}).exact

    try:
        await store.put(entry("c1", "m"), b"short", 1)
        for tenant, model in (("c1", "n"), ("c2", "m"), ("c2", "n")):
            await store.put(entry(tenant, model), b"v", 60)
        assert await store.get(entry("c1", "m")) == b"short"
        await asyncio.sleep(1.1)
        assert await store.get(entry("c1", "m")) is None
        assert await store.purge("c1", None) == 1
        assert await store.purge(None, "n") == 1
        assert await store.get(entry("c2", "m")) == b"v"
        # Enough entries that the scan takes several cursors, among other tenants' keys.
        await asyncio.gather(*(store.put(entry("c3", "m", f"q{i}"), b"v", 60) for i in range(2500)))
        assert await store.purge("c3", None) == 2500
        assert await store.get(entry("c2", "m")) == b"v"
        assert await store.purge(None, None) == 1
    finally:
        await pipe.aclose()
