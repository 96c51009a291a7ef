"""Two gateways sharing a bounded pool's leases through Redis judge the interactive share from the
leases and batch lines of every gateway, not each from its own: together their batch lines take at
most the pool's batch share (here 2 of 4), where each alone would take its own 2."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import API_KEY
from tests.integration.test_batch_lane import _run_batch, _wait_completed
from tests.support.databases import migrated_database
from tests.support.gateway_process import create_key, start_gateway, stop
from tests.support.ports import free_port
from tests.support.private_redis import private_redis
from tests.support.upstreams import running_upstreams

LINES = 16


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path) as url:
        yield url


def _config(database_url: str, replica_url: str, redis_port: int, journal: Path) -> dict[str, Any]:
    pool = {"type": "vllm", "urls": [replica_url], "api_key": API_KEY, "max_outstanding": 4}
    return {
        "backends": {"pool": pool},
        "models": [
            {
                "name": "sim-chat",  # the name tests.integration.test_batch_lane's batch file asks for
                "deployments": [{"backend": "pool", "model": "m"}],
                "pricing": {"input_per_mtok": "1", "output_per_mtok": "1"},
            }
        ],
        "database_url": database_url,
        "journal_dir": str(journal),
        "redis_url": f"redis://127.0.0.1:{redis_port}/0",
        "batches": {"max_concurrency": 4, "interactive_share": 0.5, "poll_seconds": 0.2},
    }


async def test_gateways_judge_the_share_from_the_shared_leases(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    with running_upstreams(["replica"], tmp_path) as upstreams, private_redis(port):
        replica = upstreams["replica"]
        replica.faults(slow=1.0)
        configs = [_config(postgres_url, replica.base_url, port, tmp_path / f"journal-{n}") for n in range(2)]
        key = await asyncio.to_thread(create_key, configs[0], tmp_path, "shared-share-co")
        gateways = []
        try:
            for n, config in enumerate(configs):
                workdir = tmp_path / f"gw-{n}"
                workdir.mkdir()
                gateways.append(await asyncio.to_thread(start_gateway, config, workdir))
            batch_id = await _run_batch(gateways[0][0], key, LINES)
            sampling = asyncio.create_task(_sample(replica.root))
            batch, _ = await _wait_completed(gateways[1][0], key, batch_id)
            sampling.cancel()
            samples = await sampling
        finally:
            for _, process in gateways:
                await asyncio.to_thread(stop, process)
    assert batch.request_counts.completed == LINES
    # Two lines at once, not two per gateway: the gate is checked and counted in Redis in one step, so
    # no two gateways pass on one count, from the first line to the last.
    assert max(count for _, count in samples) == 2, samples


async def _sample(root: str) -> list[tuple[float, int]]:
    """(seconds since the start, requests the replica is answering), every 50 ms until cancelled."""
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        try:
            while True:
                count = (await client.get(f"{root}/_in_flight", timeout=5)).json()["in_flight"]
                samples.append((time.monotonic() - started, int(count)))
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return samples
