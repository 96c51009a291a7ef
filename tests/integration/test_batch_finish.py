"""Finishing batches in the database, on SQLite and Postgres: an expired batch reports its unrun lines
as ``batch_expired``, a cancelled one keeps what ran, two workers finishing at once write the output
files once, and two claims racing never take the same line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from gateway.batches import finish
from gateway.batches import repository as batches
from gateway.db.models import Batch, BatchLine, StoredFile
from gateway.db.models.base import utcnow
from tests.support.batch_rows import seed_batch

Sessions = async_sessionmaker[AsyncSession]


async def _run_lines(sessions: Sessions, count: int) -> None:
    """A worker claims ``count`` lines and answers them."""
    async with sessions() as session, session.begin():
        claimed = await batches.claim(session, "w", count, utcnow(), 30)
    for line in claimed:
        async with sessions() as session, session.begin():
            result = json.dumps({"id": "r", "custom_id": line.custom_id, "response": {"status_code": 200}})
            assert await batches.finish_line(session, "w", line.batch_id, line.line, True, result)


async def _content(sessions: Sessions, file_id: str | None) -> list[dict[str, object]]:
    assert file_id is not None
    async with sessions() as session:
        stored = await session.get(StoredFile, file_id, options=[undefer(StoredFile.content)])
        assert stored is not None
        return [json.loads(line) for line in stored.content.splitlines()]


async def test_an_expired_batch_reports_its_unrun_lines(sessions: Sessions) -> None:
    batch_id = await seed_batch(sessions, 4)
    await _run_lines(sessions, 2)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Batch).where(Batch.id == batch_id).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert await finish.finish_ready(sessions) == 1
    async with sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None and batch.status == "expired" and batch.expired_at is not None
    assert (batch.completed, batch.failed) == (2, 2)
    assert [line["custom_id"] for line in await _content(sessions, batch.output_file_id)] == ["c-0", "c-1"]
    expired = await _content(sessions, batch.error_file_id)
    assert [(line["custom_id"], line["error"]["code"]) for line in expired] == [  # type: ignore[index]
        ("c-2", "batch_expired"),
        ("c-3", "batch_expired"),
    ]


async def test_a_cancelled_batch_ends_once_its_running_lines_are_done(sessions: Sessions) -> None:
    batch_id = await seed_batch(sessions, 5)
    async with sessions() as session, session.begin():
        [running] = await batches.claim(session, "w", 1, utcnow(), 30)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Batch).where(Batch.id == batch_id).values(status="cancelling", cancelling_at=utcnow())
        )
    assert await finish.finish_ready(sessions) == 0  # a line still runs
    async with sessions() as session, session.begin():
        assert await batches.claim(session, "w2", 5, utcnow(), 30) == []  # nothing more is taken
        assert await batches.finish_line(session, "w", batch_id, running.line, True, '{"custom_id": "c-0"}')
    assert await finish.finish_ready(sessions) == 1
    async with sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None and batch.status == "cancelled" and (batch.completed, batch.failed) == (1, 0)
    assert batch.error_file_id is None and len(await _content(sessions, batch.output_file_id)) == 1


async def test_two_workers_finishing_at_once_write_the_outputs_once(sessions: Sessions) -> None:
    batch_id = await seed_batch(sessions, 3)
    await _run_lines(sessions, 3)
    finished = await asyncio.gather(finish.finish_ready(sessions), finish.finish_ready(sessions))
    async with sessions() as session:
        outputs = await session.scalar(select(func.count()).select_from(StoredFile))
        batch = await session.get(Batch, batch_id)
        left = await session.scalar(select(func.count()).where(BatchLine.state != "done"))
    assert sum(finished) == 1 and outputs == 1 and left == 0
    assert batch is not None and batch.status == "completed" and batch.completed_at is not None


async def test_claims_racing_on_either_database_never_share_a_line(sessions: Sessions) -> None:
    await seed_batch(sessions, 10)

    async def claim(worker: str) -> set[int]:
        async with sessions() as session, session.begin():
            return {line.line for line in await batches.claim(session, worker, 6, utcnow(), 30)}

    first, second = await asyncio.gather(claim("a"), claim("b"))
    assert not first & second and len(first | second) <= 10
    async with sessions() as session:
        owners = (await session.execute(select(BatchLine.line, BatchLine.worker))).all()
    assert {line for line, worker in owners if worker == "a"} == first
    assert {line for line, worker in owners if worker == "b"} == second
