"""Limits that hold across replicas: two gateway processes share the machine's Redis and database,
and are hammered at once; every limit admits exactly what it allows, never more."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.gateway_process import create_key, running_gateway, spread_chats, statuses

PRICE = {"input_per_mtok": "100", "output_per_mtok": "100"}  # one token costs 100 micro-dollars


def replica_config(database_url: str, workdir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "backends": {
            # Answers are exactly 20 tokens, so what a request reserves is what it uses.
            "sim": {"type": "simulator", "min_tokens": 20, "max_tokens": 20},
            "slow": {"type": "simulator", "ttft_ms": 400, "min_tokens": 5, "max_tokens": 5},
        },
        "models": [
            {"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICE},
            {"name": "slow-chat", "deployments": [{"backend": "slow", "model": "slow"}]},
        ],
        "database_url": database_url,
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": f"tollgate-test-{workdir.name}-{uuid.uuid4().hex[:8]}",
        "journal_dir": str(workdir / "journal"),
        **extra,
    }


@pytest.fixture
def replicas(database_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, Any], Path, list[str]]]:
    config = replica_config(database_url, tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_gateway(config, tmp_path / "a") as first, running_gateway(config, tmp_path / "b") as second:
        yield config, tmp_path, [first, second]


def body(model: str = "sim-chat", n: int = 0) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": f"request {n}"}], "max_tokens": 20}


async def hammer(urls: list[str], key: str, count: int, model: str = "sim-chat") -> list[httpx.Response]:
    auth = {"authorization": f"Bearer {key}"}
    return await spread_chats(urls, count, lambda n: body(model, n), headers=auth, timeout=30)


async def test_requests_per_minute_hold_across_replicas(replicas: tuple[dict[str, Any], Path, list[str]]) -> None:
    config, workdir, urls = replicas
    key = await asyncio.to_thread(create_key, config, workdir, "rpm-co", "--rpm", "12")
    responses = await hammer(urls, key, 40)
    assert statuses(responses) == {200: 12, 429: 28}
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1 and refused.json()["error"]["type"] == "requests"
    served = next(r for r in responses if r.status_code == 200)
    assert served.headers["x-ratelimit-limit-requests"] == "12"
    assert 0 <= int(served.headers["x-ratelimit-remaining-requests"]) < 12
    assert served.headers["x-ratelimit-reset-requests"].endswith("s")


async def test_tokens_per_minute_hold_across_replicas(replicas: tuple[dict[str, Any], Path, list[str]]) -> None:
    config, workdir, urls = replicas
    probe_key = await asyncio.to_thread(create_key, config, workdir, "probe-co")
    (probe,) = await hammer(urls[:1], probe_key, 1)
    per_request = probe.json()["usage"]["total_tokens"]
    key = await asyncio.to_thread(create_key, config, workdir, "tpm-co", "--tpm", "1000")
    responses = await hammer(urls, key, 40)
    assert statuses(responses) == {200: 1000 // per_request, 429: 40 - 1000 // per_request}
    served = next(r for r in responses if r.status_code == 200)
    assert served.headers["x-ratelimit-limit-tokens"] == "1000"


async def test_concurrency_holds_across_replicas(replicas: tuple[dict[str, Any], Path, list[str]]) -> None:
    config, workdir, urls = replicas
    key = await asyncio.to_thread(create_key, config, workdir, "conc-co", "--max-concurrency", "3")
    responses = await hammer(urls, key, 10, model="slow-chat")
    assert statuses(responses) == {200: 3, 429: 7}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {"concurrency_limit_exceeded"}
    again = await hammer(urls, key, 3, model="slow-chat")  # the slots were given back
    assert statuses(again) == {200: 3}


async def test_budget_stops_within_one_request_of_its_limit(
    replicas: tuple[dict[str, Any], Path, list[str]],
) -> None:
    config, workdir, urls = replicas
    key = await asyncio.to_thread(
        create_key, config, workdir, "budget-co", "--budget-usd", "0.05", "--budget-period", "day"
    )
    responses = await hammer(urls, key, 40)
    served = [r for r in responses if r.status_code == 200]
    spent = sum(round(float(r.headers["x-tollgate-cost-usd"]) * 1_000_000) for r in served)
    one_request = round(float(served[0].headers["x-tollgate-cost-usd"]) * 1_000_000)
    assert 50_000 - one_request < spent <= 50_000
    refused = [r for r in responses if r.status_code != 200]
    assert refused and {r.status_code for r in refused} == {402}
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}


def cli(config: dict[str, Any], workdir: Path, *args: str) -> str:
    path = workdir / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=60,
        check=True,
    )
    return done.stdout


async def test_prepaid_credits_are_never_overspent_beyond_the_grace(
    replicas: tuple[dict[str, Any], Path, list[str]],
) -> None:
    config, workdir, urls = replicas
    await asyncio.to_thread(
        cli, config, workdir, "customers", "create", "prepaid-co", "--prepaid", "--credit-grace-usd", "0.01"
    )
    await asyncio.to_thread(cli, config, workdir, "credits", "add", "--customer", "prepaid-co", "--usd", "0.05")
    key = await asyncio.to_thread(create_key, config, workdir, "prepaid-co")
    responses = await hammer(urls, key, 40)
    served = [r for r in responses if r.status_code == 200]
    spent = sum(round(float(r.headers["x-tollgate-cost-usd"]) * 1_000_000) for r in served)
    one_request = round(float(served[0].headers["x-tollgate-cost-usd"]) * 1_000_000)
    assert 60_000 - one_request < spent <= 60_000, statuses(responses)  # balance 0.05 plus grace 0.01
    assert {r.status_code for r in responses} == {200, 402}, [r.text for r in responses if r.status_code != 200]
    await asyncio.to_thread(cli, config, workdir, "credits", "add", "--customer", "prepaid-co", "--usd", "0.02")
    deadline = asyncio.get_running_loop().time() + 10
    probes: list[httpx.Response] = []
    while not probes or {r.status_code for r in probes[-2:]} != {200}:  # until each replica's poll ran
        assert asyncio.get_running_loop().time() < deadline, "the top-up never reached the replicas"
        probes += [(await hammer([url], key, 1))[0] for url in urls]
        await asyncio.sleep(0.2)
    topped_up = probes + await hammer(urls, key, 10)
    more = sum(round(float(r.headers["x-tollgate-cost-usd"]) * 1_000_000) for r in topped_up if r.status_code == 200)
    # The top-up reached both replicas: they spend it too, up to 0.07 of credit plus 0.01 of grace.
    assert 80_000 - one_request < spent + more <= 80_000
