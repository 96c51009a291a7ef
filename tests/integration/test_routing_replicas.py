"""Routing that holds for the whole deployment: several real gateway processes share one Redis and
one database, in front of real upstream processes. A pool's bound and queue, a replica's open
circuit and a canary's verdict are the same on every gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import API_KEY
from tests.support.databases import migrated_database
from tests.support.gateway_process import running_gateway, spread_chats, start_gateway, statuses, stop
from tests.support.upstreams import Upstream, running_upstreams

ADMIN = {"authorization": "Bearer admin-secret"}


@pytest.fixture
def upstreams(tmp_path: Path) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(["slow", "a", "b", "stable", "canary"], tmp_path) as running:
        yield running


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path) as url:
        yield url


def config(up: dict[str, Upstream], database: str, workdir: Path, **pool: Any) -> dict[str, Any]:
    def vllm(*names: str, **extra: Any) -> dict[str, Any]:
        return {"type": "vllm", "urls": [up[n].base_url for n in names], "api_key": API_KEY, **extra}

    return {
        "backends": {
            "slow": vllm("slow", **pool),
            "pair": vllm("a", "b"),
            "stable": {"type": "openai_compatible", "base_url": up["stable"].base_url, "api_key": API_KEY},
            "canary": {"type": "openai_compatible", "base_url": up["canary"].base_url, "api_key": API_KEY},
        },
        "models": [
            {"name": "slow", "deployments": [{"backend": "slow", "model": "m"}]},
            {"name": "pair", "deployments": [{"backend": "pair", "model": "m"}]},
            {
                "name": "canaried",
                "deployments": [{"backend": "stable", "model": "m"}],
                "rollout": {"backend": "canary", "model": "m", "share": 0.5, "min_requests": 5, "window": 20},
            },
        ],
        "routing": {
            "retry": {"attempts": 2, "backoff": 0.01},
            "breaker": {"failures": 3, "cooldown": 60},
            "health_interval": 60,
            "lease_seconds": 2,
        },
        "admin_token": "admin-secret",
        "anonymous_customer": "replicas",
        "database_url": database,
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": f"tollgate-test-{uuid.uuid4().hex[:8]}",
        "journal_dir": str(workdir / "journal"),
    }


def gateways(cfg: dict[str, Any], workdir: Path, count: int, stack: ExitStack) -> list[str]:
    urls = []
    for n in range(count):
        (workdir / f"g{n}").mkdir(exist_ok=True)
        urls.append(
            stack.enter_context(running_gateway({**cfg, "journal_dir": f"{cfg['journal_dir']}{n}"}, workdir / f"g{n}"))
        )
    return urls


async def chat(urls: list[str], model: str, count: int, timeout: float = 60) -> list[httpx.Response]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return await spread_chats(urls, count, lambda _n: body, timeout=timeout)


def in_flight(upstream: Upstream) -> dict[str, int]:
    answer: dict[str, int] = httpx.get(f"{upstream.root}/_in_flight", timeout=5).json()
    return answer


def routing(url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{url}/admin/routing", headers=ADMIN, timeout=5).json()
    return state


def circuits(url: str, pool: str) -> dict[str, str]:
    deployment = next(d for d in routing(url)["deployments"] if d["name"] == pool)
    return {r["key"]: r["circuit"] for r in deployment["replicas"]}


def promote(url: str, model: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{url}/admin/models/{model}/rollout/promote", headers=ADMIN, timeout=5).json()
    return answer


def rollout(url: str) -> dict[str, Any]:
    (state,) = routing(url)["rollouts"]
    return state


async def test_three_gateways_never_send_a_pool_more_than_its_max_outstanding(
    upstreams: dict[str, Upstream], database: str, tmp_path: Path
) -> None:
    upstreams["slow"].faults(slow=0.6)
    cfg = config(upstreams, database, tmp_path, max_outstanding=2, queue_size=50, max_queue_wait=60)
    with ExitStack() as stack:
        urls = gateways(cfg, tmp_path, 3, stack)
        responses = await chat(urls, "slow", 15)
        assert statuses(responses) == {200: 15}  # the excess waited in the queue, then was served
        assert in_flight(upstreams["slow"]) == {"in_flight": 0, "max_in_flight": 2}  # 3 x 2 without sharing


async def test_the_queue_bound_is_the_deployments_and_the_excess_gets_503(
    upstreams: dict[str, Upstream], database: str, tmp_path: Path
) -> None:
    upstreams["slow"].faults(slow=3)
    cfg = config(upstreams, database, tmp_path, max_outstanding=1, queue_size=2, max_queue_wait=30)
    with ExitStack() as stack:
        urls = gateways(cfg, tmp_path, 3, stack)
        responses = await chat(urls, "slow", 9)
        # One in flight and two queued across the three gateways: each alone would have taken three.
        assert statuses(responses) == {200: 3, 503: 6}
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.json()["error"]["code"] == "overloaded" and int(refused.headers["retry-after"]) >= 1
        assert "queue is full" in refused.json()["error"]["message"]
        assert in_flight(upstreams["slow"])["max_in_flight"] == 1


async def test_leases_come_back_after_errors_and_disconnects_and_a_dead_gateways_expire(
    upstreams: dict[str, Upstream], database: str, tmp_path: Path
) -> None:
    slow = upstreams["slow"]
    cfg = config(upstreams, database, tmp_path, max_outstanding=1, queue_size=10, max_queue_wait=20)
    with ExitStack() as stack:
        (survivor,) = gateways(cfg, tmp_path, 1, stack)
        slow.faults(fail=4, status=500)
        failed = await chat([survivor], "slow", 2)  # each tried twice (one retry), and failed
        assert all(r.status_code >= 500 for r in failed)
        slow.faults()
        assert statuses(await chat([survivor], "slow", 2, timeout=5)) == {200: 2}  # no lease was kept
        slow.faults(slow=30)
        with pytest.raises(httpx.ReadTimeout):  # the client leaves while its request holds the lease
            await chat([survivor], "slow", 1, timeout=1)
        slow.faults()
        assert statuses(await chat([survivor], "slow", 1, timeout=10)) == {200: 1}  # it was given back
        (tmp_path / "doomed").mkdir()
        doomed_url, doomed = start_gateway(
            {**cfg, "journal_dir": str(tmp_path / "doomed-journal")}, tmp_path / "doomed"
        )
        try:
            slow.faults(slow=60)
            async with httpx.AsyncClient(timeout=60) as http:
                body = {"model": "slow", "messages": [{"role": "user", "content": "hold the lease"}]}
                holder = asyncio.ensure_future(http.post(f"{doomed_url}/v1/chat/completions", json=body))
                while in_flight(slow)["in_flight"] == 0:
                    await asyncio.sleep(0.05)
                os.kill(doomed.pid, signal.SIGKILL)  # its lease is never given back
                with pytest.raises(httpx.TransportError):
                    await holder
        finally:
            stop(doomed)
        slow.faults()
        started = time.monotonic()
        (answer,) = await chat([survivor], "slow", 1, timeout=30)
        assert answer.status_code == 200  # without expiry: 503 after max_queue_wait (20 s)
        assert time.monotonic() - started < 15  # lease_seconds is 2


async def test_a_circuit_opened_on_one_gateway_is_open_on_the_other_within_a_second(
    upstreams: dict[str, Upstream], database: str, tmp_path: Path
) -> None:
    a, b = upstreams["a"], upstreams["b"]
    with ExitStack() as stack:
        first, second = gateways(config(upstreams, database, tmp_path), tmp_path, 2, stack)
        a.faults(fail=1000, status=500)
        while circuits(first, "pair")[a.base_url] != "open":
            assert statuses(await chat([first], "pair", 1)) == {200: 1}  # retried on b
        opened = time.monotonic()
        while circuits(second, "pair")[a.base_url] != "open":
            # Milliseconds in fact (one Redis message); the margin is for a loaded two-core machine.
            assert time.monotonic() - opened < 3.0, "the other gateway did not learn of the open circuit"
            await asyncio.sleep(0.02)
        print(f"circuit open on the other gateway after {time.monotonic() - opened:.3f} s")
        assert circuits(second, "pair") == {a.base_url: "open", b.base_url: "closed"}
        before = a.requests()
        assert statuses(await chat([second], "pair", 6)) == {200: 6}
        assert a.requests() == before  # the second gateway sends the open replica nothing


async def test_a_canary_verdict_is_every_gateways_and_survives_a_restart(
    upstreams: dict[str, Upstream], database: str, tmp_path: Path
) -> None:
    cfg = config(upstreams, database, tmp_path)
    with ExitStack() as stack:
        first, second = gateways(cfg, tmp_path, 2, stack)
        upstreams["canary"].faults(fail=1000, status=500)  # judged on the first gateway's traffic only
        for _ in range(40):
            if rollout(first)["state"] != "active":
                break
            await chat([first], "canaried", 2)
        assert rollout(first)["state"] == "rolled_back"
        decided = time.monotonic()
        while rollout(second)["state"] != "rolled_back":
            assert time.monotonic() - decided < 3.0, "the other gateway kept the canary"
            await asyncio.sleep(0.02)
        print(f"rollback on the other gateway after {time.monotonic() - decided:.3f} s")
        assert rollout(second)["share"] == 0.0 and rollout(second)["reason"].startswith("automatic: error rate")
        before = upstreams["canary"].requests()
        assert statuses(await chat([second], "canaried", 10)) == {200: 10}
        assert upstreams["canary"].requests() == before
    upstreams["canary"].faults()
    (tmp_path / "restarted").mkdir()
    with running_gateway(cfg, tmp_path / "restarted") as restarted:
        assert rollout(restarted)["state"] == "rolled_back"  # read back at start-up
        assert promote(restarted, "canaried")["state"] == "promoted"
    with running_gateway(cfg, tmp_path / "restarted") as again:
        assert rollout(again)["state"] == "promoted" and rollout(again)["share"] == 1.0
