"""A worker killed (``kill -9``) at the worst moments of a batch line, on SQLite and Postgres: the
re-run by another worker, once the lease lapses, leaves the customer billed for the line exactly
once. Killed right after a try refused upstream was metered at no cost, the answer of the re-run
must not share that record's usage id (the drain keeps the first record of an id, and would drop
the answer); killed right after the answer was metered, the re-run must share its id (so the
drain stores one of the two)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import lines
from gateway.batches import repository as batches
from gateway.batches.lane import BatchLane
from gateway.config.batches import BatchSettings
from gateway.core.errors import UpstreamStatusError
from gateway.db.models.base import utcnow
from gateway.keys.principal import Principal
from gateway.metering.ingest import ingest
from gateway.metering.meter import Meter
from gateway.metering.record import UsageRecord
from tests.support.batch_rows import seed_batch
from tests.support.databases import open_sessions
from tests.unit.pipeline_kit import BOOK, MESSAGES, FakeBackend, Kit, build, principal

SETTINGS = BatchSettings(poll_seconds=0.05, lease_seconds=0.3, retry_seconds=0.05)


class Killed(BaseException):
    """The worker's process ends here: nothing after this point runs (no handler, no cleanup)."""


def _kill_after(kit: Kit, outcome: str) -> list[UsageRecord]:
    """Every record the meter journals, in order; the first one with ``outcome`` kills its worker the
    moment it is journaled (as ``kill -9`` would, the record surviving in the journal)."""
    journaled: list[UsageRecord] = []

    def observe(record: UsageRecord, _customer: str) -> None:
        journaled.append(record)
        if record.outcome == outcome and len(journaled) == 1:
            raise Killed

    kit.pipeline.meter = Meter(None, BOOK, observe)
    return journaled


def _lane(kit: Kit, sessions: async_sessionmaker[AsyncSession], who: Principal) -> BatchLane:
    lane = BatchLane(sessions, kit.pipeline, SETTINGS, 64)

    async def batch_key(_key_id: int) -> Principal:  # the key's row is not what these tests are about
        return lines.lane_principal(who, SETTINGS.priority, BOOK.batch_discount_percent)

    lane._principal = batch_key  # type: ignore[method-assign, assignment]
    return lane


async def _until(sessions: async_sessionmaker[AsyncSession], query: str, batch_id: str) -> None:
    for _ in range(200):
        async with sessions() as session:
            if await session.scalar(text(query), {"batch": batch_id}):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {query}")


async def _run_killed_then_rerun(
    database_url: str, kit: Kit, kill_outcome: str, refuse_first: bool
) -> tuple[list[UsageRecord], dict[str, Any], list[tuple[str, int, str]]]:
    """Worker A runs the batch's one line until the first record with ``kill_outcome`` kills it; the
    line's lease lapses and worker B runs it to the end. Returns the records journaled, the output
    line, and the usage events the drain stored (each worker's journal drained in the order written)."""
    journaled = _kill_after(kit, kill_outcome)
    if refuse_first:
        kit.backend.error = UpstreamStatusError("slow down", upstream_status=429)
    async with open_sessions(database_url) as sessions:
        batch_id = await seed_batch(sessions, 1)
        async with sessions() as session, session.begin():
            body = json.dumps({"model": "m", "messages": MESSAGES})
            await session.execute(text("UPDATE batch_lines SET body = :body"), {"body": body})
            customer = await session.scalar(text("SELECT customer_id FROM batches WHERE id = :b"), {"b": batch_id})
        who = dataclasses.replace(principal(), customer_id=customer, key_id=1, max_concurrency=None)
        first = _lane(kit, sessions, who)
        async with sessions() as session, session.begin():
            [line] = await batches.claim(session, first.worker, 1, utcnow(), SETTINGS.lease_seconds)
        with pytest.raises(Killed):  # the worker dies running the line: no cleanup, no release
            await first._run(line)
        assert len(journaled) == 1 and journaled[0].outcome == kill_outcome
        kit.backend.error = None  # the upstream has room again when the line runs next
        second = asyncio.create_task(_lane(kit, sessions, who).run_forever())
        try:
            await _until(sessions, "SELECT count(*) FROM batches WHERE id = :batch AND status = 'completed'", batch_id)
        finally:
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
        async with sessions() as session:
            result = await session.scalar(text("SELECT result FROM batch_lines WHERE batch_id = :b"), {"b": batch_id})
        for record in journaled:  # the dead worker's journal and the next one's, each record drained once
            async with sessions() as session, session.begin():
                await ingest(session, [record])
        async with sessions() as session:
            rows = await session.execute(text("SELECT request_id, cost_micros, outcome FROM usage_events"))
            stored = [(row[0], row[1], row[2]) for row in rows]
    return journaled, msgspec.json.decode(result or "{}"), stored


async def test_a_worker_killed_after_a_refused_try_leaves_the_rerun_billed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    journaled, output, stored = await _run_killed_then_rerun(database_url, kit, "upstream_error", True)
    refused, answered = journaled
    assert (refused.outcome, refused.cost_micros) == ("upstream_error", 0)
    assert answered.outcome == "ok" and answered.cost_micros > 0
    billed = [(request_id, cost) for request_id, cost, _ in stored if cost > 0]
    assert billed == [(answered.request_id, answered.cost_micros)], f"the answer was dropped: {stored}"
    assert refused.request_id != answered.request_id
    assert output["response"]["status_code"] == 200 and output["response"]["request_id"] == answered.request_id
    assert len(stored) == 2, "each try's record is stored"


async def test_a_worker_killed_after_the_answer_was_metered_leaves_it_billed_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    journaled, output, stored = await _run_killed_then_rerun(database_url, kit, "ok", False)
    first, again = journaled
    assert first.outcome == again.outcome == "ok" and first.request_id == again.request_id
    assert output["response"]["request_id"] == first.request_id
    assert stored == [(first.request_id, first.cost_micros, "ok")], "billed once, the first record"
