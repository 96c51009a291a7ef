"""A gateway stopped (SIGTERM) while batch lines wait on a slow upstream cancels them and hands them
back; the gateway started next runs them again, and each line is billed once: the cancelled try
records nothing (it is not a client disconnect), the re-run is metered under the same usage id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway.batches.lines import line_request_id
from tests.fakes.openai_server import API_KEY
from tests.integration.test_batch_lane import _check_output, _run_batch, _wait_completed
from tests.support.databases import migrated_database, open_sessions
from tests.support.gateway_process import create_key, start_gateway, stop
from tests.support.upstreams import Upstream, running_upstreams

LINES = 3


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path) as url:
        yield url


def _config(database_url: str, replica: Upstream, journal: Path) -> dict[str, Any]:
    pool = {"type": "vllm", "urls": [replica.base_url], "api_key": API_KEY}
    return {
        "backends": {"pool": pool},
        "models": [
            {
                "name": "sim-chat",  # the name tests.integration.test_batch_lane's batch file asks for
                "deployments": [{"backend": "pool", "model": "m"}],
                "pricing": {"input_per_mtok": "1", "output_per_mtok": "3"},
            }
        ],
        "database_url": database_url,
        "journal_dir": str(journal),
        "batches": {"max_concurrency": LINES, "poll_seconds": 0.2, "shutdown_wait_seconds": 0.2},
    }


async def _in_flight(replica: Upstream) -> int:
    async with httpx.AsyncClient() as client:
        answer = (await client.get(f"{replica.root}/_in_flight", timeout=5)).json()
    return int(answer["in_flight"])


async def _events(url: str) -> list[tuple[str, int, str]]:
    async with open_sessions(url) as sessions, sessions() as session:
        rows = await session.execute(
            text("SELECT request_id, cost_micros, outcome FROM usage_events WHERE request_id LIKE 'batch_req_%'")
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_a_line_cancelled_by_shutdown_is_billed_once_when_run_again(postgres_url: str, tmp_path: Path) -> None:
    with running_upstreams(["replica"], tmp_path) as upstreams:
        replica = upstreams["replica"]
        config = _config(postgres_url, replica, tmp_path / "journal")
        key = await asyncio.to_thread(create_key, config, tmp_path, "stop-co")
        replica.faults(slow=30)  # every line is still upstream when the gateway stops
        url, process = await asyncio.to_thread(start_gateway, config, tmp_path)
        try:
            batch_id = await _run_batch(url, key, LINES)
            deadline = time.monotonic() + 30
            while await _in_flight(replica) < LINES and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert await _in_flight(replica) == LINES, "the lines were sent upstream"
        finally:
            await asyncio.to_thread(stop, process)  # SIGTERM: the lane cancels the lines and hands them back
        replica.faults()
        url, process = await asyncio.to_thread(start_gateway, config, tmp_path)
        try:
            batch, output = await _wait_completed(url, key, batch_id)
            expected = _check_output(batch_id, output, LINES)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # until every answer is stored (the drain runs every second)
                events = await _events(postgres_url)
                if sum(outcome == "ok" for _, _, outcome in events) >= LINES:
                    break
                await asyncio.sleep(0.3)
        finally:
            await asyncio.to_thread(stop, process)
    assert batch.request_counts.completed == LINES
    billed = [request_id for request_id, cost, _ in events if cost > 0]
    assert sorted(billed) == sorted(expected), f"one billed event per line, not a disconnect too: {events}"
    assert all(outcome == "ok" for _, _, outcome in events), events
    assert expected == {line_request_id(batch_id, f"line-{n}", 0) for n in range(LINES)}
