"""Finishing a batch: its output and error files, written once, and its final status.

A batch whose lines are all done completes; one being cancelled ends ``cancelled`` once no line
runs; one past its completion window ends ``expired``, its lines never run reported in the error
file as ``batch_expired`` (and counted failed). The batch is marked ``finalizing`` first, in its own
transaction, so a worker that dies while writing the files leaves it for another to finish.
"""

from __future__ import annotations

import logging

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import repository as batches
from gateway.batches.lines import line_request_id
from gateway.db.models import Batch, BatchLine
from gateway.db.models.base import utcnow
from gateway.files import repository as files
from gateway.protocol.batches import LineError, OutputLine

log = logging.getLogger("tollgate.batches")

_encode = msgspec.json.Encoder().encode
_EXPIRED = "This request could not be executed before the completion window expired."


async def finish_ready(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Finish every batch with nothing left to run; returns how many this worker finished."""
    async with sessions() as session:
        ready = await batches.ready_to_finish(session, utcnow())
    finished = 0
    for batch_id in ready:
        async with sessions() as session, session.begin():
            await batches.mark_finalizing(session, batch_id, utcnow())
        async with sessions() as session, session.begin():
            batch = await batches.take_finalizing(session, batch_id)
            if batch is not None:  # None: another worker finished it meanwhile
                await _write_outputs(session, batch)
                finished += 1
    return finished


async def _write_outputs(session: AsyncSession, batch: Batch) -> None:
    now = utcnow()
    lines = await batches.lines_of(session, batch.id)
    expired = batch.cancelling_at is None and batch.expires_at <= now and any(line.state != "done" for line in lines)
    outputs: list[bytes] = []
    errors: list[bytes] = []
    for line in lines:
        if line.state == "done" and line.result is not None:
            (outputs if line.ok else errors).append(line.result.encode())
        elif expired:
            errors.append(_encode(_expired_line(batch.id, line)))
            batch.failed += 1
    if outputs:
        batch.output_file_id = _store(session, batch, "output", outputs)
    if errors:
        batch.error_file_id = _store(session, batch, "error", errors)
    if batch.cancelling_at is not None:
        batch.status, batch.cancelled_at = "cancelled", now
    elif expired:
        batch.status, batch.expired_at = "expired", now
    else:
        batch.status, batch.completed_at = "completed", now
    log.info("batch %s %s: %d completed, %d failed", batch.id, batch.status, batch.completed, batch.failed)


def _expired_line(batch_id: str, line: BatchLine) -> OutputLine:
    return OutputLine(
        id=line_request_id(batch_id, line.custom_id, line.attempt),
        custom_id=line.custom_id,
        error=LineError("batch_expired", _EXPIRED),
    )


def _store(session: AsyncSession, batch: Batch, kind: str, lines: list[bytes]) -> str:
    content = b"\n".join(lines) + b"\n"
    stored = files.add(session, batch.customer_id, f"{batch.id}_{kind}.jsonl", "batch_output", content)
    return stored.id
