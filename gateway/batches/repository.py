"""Batches and their lines in the database: creation, the customer's view, and the lane's claims.

A worker claims lines with ``SELECT ... FOR UPDATE SKIP LOCKED`` on Postgres, so replicas never
claim the same line; SQLite runs one gateway process, whose lane is the only claimer. A claim is
a lease: the worker renews it while the line runs, and a line whose lease lapsed (its worker died)
is claimed again. A line's result and the batch's counters are written together, by the worker
that still holds it, so each line counts once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.batches.input import InputLine
from gateway.db.models import Batch, BatchLine

# Batches whose lines still run, or may.
LIVE = ("validating", "in_progress", "finalizing", "cancelling")


def new_batch_id() -> str:
    return f"batch_{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class ClaimedLine:
    batch_id: str
    line: int
    custom_id: str
    model: str
    body: str
    attempt: int
    endpoint: str
    api_key_id: int


async def add_lines(session: AsyncSession, batch_id: str, lines: Sequence[InputLine]) -> None:
    rows = [
        {
            "batch_id": batch_id,
            "line": line.line,
            "custom_id": line.custom_id,
            "model": line.model,
            "body": line.body.decode(),
            "state": "pending",
            "attempt": 0,
        }
        for line in lines
    ]
    await session.execute(insert(BatchLine), rows)


async def get(session: AsyncSession, customer_id: int, batch_id: str, *, lock: bool = False) -> Batch | None:
    query = select(Batch).where(Batch.id == batch_id, Batch.customer_id == customer_id)
    if lock:
        query = query.with_for_update()
    batch: Batch | None = await session.scalar(query)
    return batch


async def listing(session: AsyncSession, customer_id: int, limit: int, after: str | None) -> list[Batch]:
    """Newest first; up to ``limit + 1`` (the extra one says there are more)."""
    query = select(Batch).where(Batch.customer_id == customer_id)
    if after is not None and (cursor := await get(session, customer_id, after)) is not None:
        moment, ident = cursor.created_at, cursor.id
        query = query.where(or_(Batch.created_at < moment, and_(Batch.created_at == moment, Batch.id < ident)))
    query = query.order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit + 1)
    return list((await session.scalars(query)).all())


# The oldest running batches a claim looks into; their lines are taken in order, batch by batch.
_CLAIM_BATCHES = 8


async def claim(session: AsyncSession, worker: str, count: int, now: dt.datetime, lease: float) -> list[ClaimedLine]:
    """Up to ``count`` lines of running batches, oldest batch first, now this worker's until the lease
    ends: in each batch, lines whose worker's lease lapsed first, then pending ones in file order. Each
    look is an index seek on (batch, state, line), however many lines of the batch are done."""
    live = (
        select(Batch.id, Batch.endpoint, Batch.api_key_id)
        .where(Batch.status == "in_progress", Batch.expires_at > now, Batch.completed + Batch.failed < Batch.total)
        .order_by(Batch.created_at, Batch.id)
        .limit(_CLAIM_BATCHES)
    )
    until = now + dt.timedelta(seconds=lease)
    claimed: list[ClaimedLine] = []
    for batch_id, endpoint, key_id in (await session.execute(live)).all():
        for state in ("running", "pending"):
            wanted = count - len(claimed)
            if wanted <= 0:
                return claimed
            free = BatchLine.state == state
            if state == "running":
                free = and_(free, BatchLine.lease_until < now)
            # Selected (and locked) first, then updated by number: as a subquery of the UPDATE, Postgres
            # may run the LIMIT again per row and take more lines than asked. The UPDATE checks again
            # that each is free: SQLite has no row locks, and another process may have taken it.
            picked = select(BatchLine.line).where(BatchLine.batch_id == batch_id, free)
            picked = picked.order_by(BatchLine.line).limit(wanted).with_for_update(skip_locked=True)
            numbers = list((await session.scalars(picked)).all())
            if not numbers:
                continue
            taken = await session.execute(
                update(BatchLine)
                .where(BatchLine.batch_id == batch_id, BatchLine.line.in_(numbers), free)
                .values(state="running", worker=worker, lease_until=until)
                .returning(BatchLine.line, BatchLine.custom_id, BatchLine.model, BatchLine.body, BatchLine.attempt)
            )
            claimed.extend(
                ClaimedLine(batch_id, line, custom_id, model, body, attempt, endpoint, key_id)
                for line, custom_id, model, body, attempt in sorted(taken.all())
            )
    return claimed


async def renew(session: AsyncSession, worker: str, now: dt.datetime, lease: float) -> None:
    until = now + dt.timedelta(seconds=lease)
    await session.execute(
        update(BatchLine).where(BatchLine.worker == worker, BatchLine.state == "running").values(lease_until=until)
    )


def _mine(worker: str, batch_id: str, line: int) -> ColumnElement[bool]:
    return and_(
        BatchLine.batch_id == batch_id, BatchLine.line == line, BatchLine.worker == worker, BatchLine.state == "running"
    )


async def release(session: AsyncSession, worker: str, batch_id: str, line: int) -> None:
    """Give a line back unfinished (this gateway is stopping), for any worker to run again."""
    await session.execute(
        update(BatchLine).where(_mine(worker, batch_id, line)).values(state="pending", worker=None, lease_until=None)
    )


async def finish_line(session: AsyncSession, worker: str, batch_id: str, line: int, ok: bool, result: str) -> bool:
    """Store the line's result and count it, if this worker still holds it; False (nothing written) if not."""
    done = await session.execute(
        update(BatchLine)
        .where(_mine(worker, batch_id, line))
        .values(state="done", ok=ok, result=result, worker=None, lease_until=None)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return False
    counter = Batch.completed if ok else Batch.failed
    await session.execute(update(Batch).where(Batch.id == batch_id).values({counter: counter + 1}))
    return True


async def ready_to_finish(session: AsyncSession, now: dt.datetime) -> list[str]:
    """Batches with nothing left to run: every line counted, or cancelled or expired with no line running."""
    running = exists().where(BatchLine.batch_id == Batch.id, BatchLine.state == "running", BatchLine.lease_until >= now)
    winding_down = or_(Batch.status.in_(("cancelling", "finalizing")), Batch.expires_at <= now)
    query = select(Batch.id).where(
        Batch.status.in_(("in_progress", "cancelling", "finalizing")),
        or_(Batch.completed + Batch.failed >= Batch.total, and_(winding_down, ~running)),
    )
    return list((await session.scalars(query.order_by(Batch.created_at).limit(20))).all())


async def mark_finalizing(session: AsyncSession, batch_id: str, now: dt.datetime) -> None:
    """A running or cancelling batch enters ``finalizing`` (one already there, left by a worker that
    died while writing its files, stays)."""
    await session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status.in_(("in_progress", "cancelling")))
        .values(status="finalizing", finalizing_at=now)
    )


async def take_finalizing(session: AsyncSession, batch_id: str) -> Batch | None:
    """The batch, if still ``finalizing``, held by this transaction until it commits: the UPDATE locks the
    row on Postgres and takes SQLite's write lock, so a second worker waits, then finds it finished."""
    taken = await session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "finalizing")
        .values(finalizing_at=Batch.finalizing_at)
        .returning(Batch.id)
    )
    if taken.scalar_one_or_none() is None:
        return None
    batch: Batch | None = await session.get(Batch, batch_id, populate_existing=True)
    return batch


async def lines_of(session: AsyncSession, batch_id: str) -> list[BatchLine]:
    query = select(BatchLine).where(BatchLine.batch_id == batch_id).order_by(BatchLine.line)
    return list((await session.scalars(query)).all())
