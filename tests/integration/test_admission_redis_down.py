"""Redis stopped mid-test: the configured policy holds, nothing crashes, limits resume after; the
response cache, on the same connection, serves misses meanwhile and hits again after."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest

from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.private_redis import private_redis
from tests.support.scrape import scrape, value


def config(tmp_path: Path, port: int, fail_open: bool) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            {"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}]},
            {"name": "cached", "deployments": [{"backend": "sim", "model": "sim"}], "cache": {"exact": True}},
        ],
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
        "journal_dir": str(tmp_path / "journal"),
        "redis_url": f"redis://127.0.0.1:{port}/0",
        "admission_fail_open": fail_open,
    }


async def burst(url: str, key: str, count: int) -> list[int]:
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        responses = await asyncio.gather(*(http.post(f"{url}/v1/chat/completions", json=body) for _ in range(count)))
    return sorted(r.status_code for r in responses)


async def cached(url: str, key: str) -> str:
    """The cache's verdict on one fixed question, asked until its answer has been stored (at most 5 s)."""
    body = {"model": "cached", "messages": [{"role": "user", "content": "what is two and two"}], "temperature": 0}
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        deadline = time.monotonic() + 5
        while True:
            response = await http.post(f"{url}/v1/chat/completions", json=body)
            assert response.status_code == 200
            verdict = response.headers["x-tollgate-cache"]
            if verdict == "hit" or time.monotonic() > deadline:
                return verdict
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("fail_open", [True, False], ids=["fail-open", "fail-closed"])
async def test_redis_outage_follows_the_policy_and_limits_come_back(tmp_path: Path, fail_open: bool) -> None:
    port = free_port()
    settings = config(tmp_path, port, fail_open)
    key = await asyncio.to_thread(create_key, settings, tmp_path, "outage-co", "--rpm", "3")
    with private_redis(port) as redis, running_gateway(settings, tmp_path) as url:
        assert await burst(url, key, 5) == [200] * 3 + [429] * 2
        redis.kill()
        redis.wait()
        during = await burst(url, key, 5)
        assert during == ([200] * 5 if fail_open else [503] * 5)
        assert value(scrape(url), "tollgate_admission_store_errors_total") >= 5
        with private_redis(port):
            assert await burst(url, key, 5) == [200] * 3 + [429] * 2  # a fresh Redis: a fresh minute


async def test_the_cache_serves_misses_while_redis_is_down_and_hits_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    settings = config(tmp_path, port, fail_open=True)
    key = await asyncio.to_thread(create_key, settings, tmp_path, "cache-co")
    with private_redis(port) as redis, running_gateway(settings, tmp_path) as url:
        assert await cached(url, key) == "hit"
        redis.kill()
        redis.wait()
        assert await cached(url, key) == "miss"  # answered by the model, for 5 s, never an error
        assert value(scrape(url), "tollgate_cache_errors_total") >= 2  # lookups and stores that failed
        with private_redis(port):
            assert await cached(url, key) == "hit"  # stored again in the fresh Redis, then found


def redis_warnings(log: Path) -> Counter[str]:
    """How often each kind of Redis warning was logged (its logger and the text before the details)."""
    lines = [line.split(" WARNING ", 1)[1] for line in log.read_text().splitlines() if " WARNING " in line]
    return Counter(line.split("(", 1)[0] for line in lines if "Redis" in line or "store unavailable" in line)


async def test_an_outage_is_reported_by_readyz_and_a_gauge_and_logged_once_not_per_request(tmp_path: Path) -> None:
    port = free_port()
    settings = config(tmp_path, port, fail_open=True)
    key = await asyncio.to_thread(create_key, settings, tmp_path, "watched-co", "--rpm", "1000")
    with private_redis(port) as redis, running_gateway(settings, tmp_path) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.get("/readyz")).json() == {"status": "ready", "usage_journal": ANY, "redis": "ok"}
            redis.kill()
            redis.wait()
            until = time.monotonic() + 6  # limited requests and cached ones: each touches Redis
            while time.monotonic() < until:
                assert await burst(url, key, 3) == [200] * 3
                assert await cached(url, key) == "miss"
            ready = await http.get("/readyz")
            assert ready.status_code == 200  # still serving, without limits
            assert ready.json()["status"] == "degraded" and ready.json()["redis"] == "unreachable"
            assert any("admitting requests without their limits" in r for r in ready.json()["reasons"])
            assert value(scrape(url), "tollgate_admission_store_up") == 0
            # Each part that uses Redis (admission, cache, key changes, the watch) says so once, not per
            # request or per retry (before: the key-change loop alone logged every second).
            warnings = redis_warnings(tmp_path / "gateway.log")
            assert warnings and set(warnings.values()) == {1}, warnings
            with private_redis(port):
                deadline = time.monotonic() + 10
                while (await http.get("/readyz")).json()["status"] != "ready":
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
                assert value(scrape(url), "tollgate_admission_store_up") == 1
