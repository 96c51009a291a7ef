"""The batch lane on Postgres: two claimers never take the same line (``FOR UPDATE SKIP LOCKED``),
two gateways share one batch and run each line once, and a gateway killed with ``kill -9`` in the
middle of a batch leaves it to the next one, which finishes it with every line metered once."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import text

from gateway.batches import repository as batches
from gateway.batches.lines import line_request_id
from gateway.db.models.base import utcnow
from gateway.metering.ingest import ingest
from tests.support.batch_rows import seed_batch
from tests.support.databases import migrated_database, open_sessions
from tests.support.gateway_process import create_key, running_gateway, start_gateway, stop
from tests.support.usage_records import usage_record

LINES = 24


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path) as url:
        yield url


def lane_config(database_url: str, journal: Path, **batches: Any) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator", "ttft_ms": 150}},
        "models": [
            {
                "name": "sim-chat",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": {"input_per_mtok": "1", "output_per_mtok": "3"},
            }
        ],
        "database_url": database_url,
        "journal_dir": str(journal),
        "batches": {"max_concurrency": 3, "poll_seconds": 0.2, **batches},
    }


def batch_file(count: int) -> bytes:
    lines = (
        {
            "custom_id": f"line-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "sim-chat", "messages": [{"role": "user", "content": f"question {n}"}]},
        }
        for n in range(count)
    )
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


async def test_two_claimers_at_once_take_disjoint_lines(postgres_url: str) -> None:
    async with open_sessions(postgres_url) as sessions:
        await seed_batch(sessions, 10, model="sim-chat", expires_in=dt.timedelta(days=365))
        async with sessions() as first, sessions() as second:
            await first.begin()
            await second.begin()
            mine = await batches.claim(first, "worker-a", 6, utcnow(), 30)
            # The first claim is not committed: its rows stay locked, and the second skips them.
            theirs = await batches.claim(second, "worker-b", 6, utcnow(), 30)
            await first.commit()
            await second.commit()
        taken_a, taken_b = {line.line for line in mine}, {line.line for line in theirs}
        assert len(taken_a) == 6 and len(taken_b) == 4 and not taken_a & taken_b
        async with sessions() as session, session.begin():
            assert await batches.claim(session, "worker-c", 10, utcnow(), 30) == []  # all held, leases alive


async def _run_batch(url: str, key: str, count: int) -> str:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    uploaded = await client.files.create(file=("in.jsonl", io.BytesIO(batch_file(count))), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    return batch.id


async def _wait_completed(url: str, key: str, batch_id: str, timeout: float = 90) -> Any:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = await client.batches.retrieve(batch_id)
        if batch.status == "completed":
            return batch, (await client.files.content(batch.output_file_id or "")).text
        await asyncio.sleep(0.3)
    raise AssertionError(f"batch still {batch.status}: {batch.request_counts}")


def _logged_batch_ids(workdir: Path) -> list[str]:
    """The batch lines this gateway sent, from its access log (one line per request it metered)."""
    ids = []
    for line in (workdir / "gateway.log").read_text().splitlines():
        if line.startswith("{") and '"batch_req_' in line:
            entry = json.loads(line)
            if entry.get("event") == "request":
                ids.append(entry["request_id"])
    return ids


async def _usage_events(url: str) -> list[tuple[str, int]]:
    async with open_sessions(url) as sessions, sessions() as session:
        rows = await session.execute(
            text("SELECT request_id, cost_micros FROM usage_events WHERE request_id LIKE 'batch_req_%'")
        )
        return [(row[0], row[1]) for row in rows]


def _check_output(batch_id: str, output: str, count: int) -> set[str]:
    lines = [json.loads(line) for line in output.splitlines()]
    assert sorted(line["custom_id"] for line in lines) == sorted(f"line-{n}" for n in range(count))
    assert all(line["response"]["status_code"] == 200 for line in lines)
    return {line_request_id(batch_id, line["custom_id"], 0) for line in lines}


async def test_two_gateways_share_a_batch_and_run_each_line_once(postgres_url: str, tmp_path: Path) -> None:
    configs = [lane_config(postgres_url, tmp_path / f"journal-{n}") for n in range(2)]
    key = await asyncio.to_thread(create_key, configs[0], tmp_path, "shared-co")
    gateways = []
    for n, config in enumerate(configs):
        workdir = tmp_path / f"gw-{n}"
        workdir.mkdir()
        gateways.append(await asyncio.to_thread(start_gateway, config, workdir))
    try:
        batch_id = await _run_batch(gateways[0][0], key, LINES)
        batch, output = await _wait_completed(gateways[1][0], key, batch_id)
    finally:
        for _, process in gateways:
            stop(process)
    assert (batch.request_counts.completed, batch.request_counts.failed) == (LINES, 0)
    expected = _check_output(batch_id, output, LINES)
    ran = [_logged_batch_ids(tmp_path / f"gw-{n}") for n in range(2)]
    assert all(ran), "both gateways' lanes ran lines"
    assert sorted(ran[0] + ran[1]) == sorted(expected), "each line ran once, on one gateway"


async def test_a_batch_survives_kill_9_of_its_gateway_and_is_metered_once(postgres_url: str, tmp_path: Path) -> None:
    config = lane_config(postgres_url, tmp_path / "journal", lease_seconds=1.5)
    key = await asyncio.to_thread(create_key, config, tmp_path, "crash-co")
    url, process = await asyncio.to_thread(start_gateway, config, tmp_path)
    batch_id = await _run_batch(url, key, LINES)
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    while (await client.batches.retrieve(batch_id)).request_counts.completed < 4:  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # lines in flight: claimed, maybe sent, maybe journaled
    process.wait()
    url, process = await asyncio.to_thread(start_gateway, config, tmp_path)  # the same journal: replayed
    try:
        batch, output = await _wait_completed(url, key, batch_id)
        expected = _check_output(batch_id, output, LINES)
        deadline = time.monotonic() + 20
        while len(events := await _usage_events(postgres_url)) < LINES and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
    finally:
        stop(process)
    assert batch.status == "completed" and batch.request_counts.completed == LINES
    assert sorted(request_id for request_id, _ in events) == sorted(expected), "one usage event per line"
    assert all(cost > 0 for _, cost in events)


async def _crash_after_metering(url: str, batch_id: str) -> tuple[str, str]:
    """What a worker killed mid-line leaves: lines 1-3 claimed under a lease that lapsed, and lines 1
    and 2 already metered (journaled, then drained by the restarted gateway) under their ids."""
    async with open_sessions(url) as sessions, sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE batch_lines SET state = 'running', worker = 'dead-worker', "
                "lease_until = now() - interval '1 second' WHERE batch_id = :batch AND line <= 3"
            ),
            {"batch": batch_id},
        )
        customer, key = (await session.execute(text("SELECT customer_id, api_key_id FROM batches"))).one()
        metered = [line_request_id(batch_id, f"line-{n}", 0) for n in range(2)]
        records = [
            usage_record(rid, customer_id=customer, api_key_id=key, model="sim-chat", cost_micros=777)
            for rid in metered
        ]
        assert await ingest(session, records) == 2
    return metered[0], metered[1]


async def test_a_line_run_again_after_its_worker_died_is_metered_once(postgres_url: str, tmp_path: Path) -> None:
    idle = lane_config(postgres_url, tmp_path / "journal", enabled=False)
    key = await asyncio.to_thread(create_key, idle, tmp_path, "rerun-co")
    with running_gateway(idle, tmp_path) as url:
        batch_id = await _run_batch(url, key, 6)
    metered = await _crash_after_metering(postgres_url, batch_id)
    config = lane_config(postgres_url, tmp_path / "journal", lease_seconds=1.5)
    with running_gateway(config, tmp_path) as url:
        batch, output = await _wait_completed(url, key, batch_id)
        expected = _check_output(batch_id, output, 6)
        deadline = time.monotonic() + 20
        while len(events := dict(await _usage_events(postgres_url))) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
    assert set(events) == expected and batch.request_counts.completed == 6
    assert [events[request_id] for request_id in metered] == [777, 777], "the first record of a line wins"
    async with open_sessions(postgres_url) as sessions, sessions() as session:
        rolled = await session.scalar(text("SELECT sum(requests) FROM usage_rollups"))
    assert rolled == 6, "the lines run again were not counted twice"
