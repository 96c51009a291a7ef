"""Creating, reading, listing and cancelling a customer's batches.

Creating one reads its input file at once, as OpenAI validates it: a request that is itself wrong
(an unknown or foreign file, another purpose, an endpoint not offered) is a 400 or 404 and leaves
nothing behind; a file whose lines are wrong makes a batch that is ``failed`` with one error per
bad line; a good file's lines are stored with the batch, ``in_progress``, for the lane to run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import repository as batches
from gateway.batches.input import TARGETS, read_input
from gateway.core.errors import Conflict, InvalidRequest, NotFound
from gateway.db.models import Batch
from gateway.db.models.base import utcnow
from gateway.files import repository as files
from gateway.files.service import not_found as file_not_found
from gateway.keys.principal import Principal
from gateway.protocol.batches import (
    BatchCreate,
    BatchError,
    BatchErrors,
    BatchList,
    BatchListQuery,
    BatchObject,
    RequestCounts,
)

Sessions = async_sessionmaker[AsyncSession]
WINDOW = dt.timedelta(hours=24)


def _seconds(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def described(batch: Batch) -> BatchObject:
    errors = None
    if batch.errors:
        errors = BatchErrors(data=[BatchError(**error) for error in batch.errors])
    return BatchObject(
        id=batch.id,
        endpoint=batch.endpoint,
        input_file_id=batch.input_file_id,
        completion_window=batch.completion_window,
        status=batch.status,
        created_at=int(batch.created_at.timestamp()),
        request_counts=RequestCounts(total=batch.total, completed=batch.completed, failed=batch.failed),
        errors=errors,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        expires_at=_seconds(batch.expires_at),
        in_progress_at=_seconds(batch.in_progress_at),
        finalizing_at=_seconds(batch.finalizing_at),
        completed_at=_seconds(batch.completed_at),
        failed_at=_seconds(batch.failed_at),
        expired_at=_seconds(batch.expired_at),
        cancelling_at=_seconds(batch.cancelling_at),
        cancelled_at=_seconds(batch.cancelled_at),
        metadata=batch.batch_metadata,
    )


def not_found(batch_id: str) -> NotFound:
    """One answer for a batch that does not exist and one of another customer."""
    return NotFound(f"No such Batch object: {batch_id}", param="batch_id")


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in TARGETS:
        offered = ", ".join(TARGETS)
        raise InvalidRequest(
            f"'{endpoint}' is not a batch endpoint; this gateway runs batches for {offered}.",
            param="endpoint",
            code="unsupported_endpoint",
        )


async def create(sessions: Sessions, principal: Principal, request: BatchCreate, max_messages: int) -> BatchObject:
    _check_endpoint(request.endpoint)
    async with sessions() as session, session.begin():
        stored = await files.get(session, principal.customer_id, request.input_file_id, with_content=True)
        if stored is None:
            raise file_not_found(request.input_file_id)
        if stored.purpose != "batch":
            raise InvalidRequest(
                f"The file {stored.id} has purpose '{stored.purpose}'; a batch reads one with purpose 'batch'.",
                param="input_file_id",
                code="invalid_file_purpose",
            )
        read = read_input(stored.content, request.endpoint, max_messages)
        now = utcnow()
        batch = Batch(
            id=batches.new_batch_id(),
            customer_id=principal.customer_id,
            api_key_id=principal.key_id,
            endpoint=request.endpoint,
            input_file_id=stored.id,
            completion_window=request.completion_window,
            batch_metadata=request.metadata,
            created_at=now,
            expires_at=now + WINDOW,
            total=0,
            completed=0,
            failed=0,
        )
        if read.errors:
            batch.status, batch.failed_at = "failed", now
            batch.errors = [
                {"code": e.code, "message": e.message, "line": e.line, "param": e.param} for e in read.errors
            ]
        else:
            batch.status, batch.in_progress_at, batch.total = "in_progress", now, len(read.lines)
        session.add(batch)
        await session.flush()
        if not read.errors:
            await batches.add_lines(session, batch.id, read.lines)
    return described(batch)


async def retrieve(sessions: Sessions, customer_id: int, batch_id: str) -> BatchObject:
    async with sessions() as session:
        batch = await batches.get(session, customer_id, batch_id)
    if batch is None:
        raise not_found(batch_id)
    return described(batch)


async def listing(sessions: Sessions, customer_id: int, query: BatchListQuery) -> BatchList:
    async with sessions() as session:
        found = await batches.listing(session, customer_id, query.limit, query.after)
    page = [described(batch) for batch in found[: query.limit]]
    return BatchList(
        data=page,
        has_more=len(found) > query.limit,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
    )


async def cancel(sessions: Sessions, customer_id: int, batch_id: str) -> BatchObject:
    """A running batch stops taking lines and ends ``cancelled`` once those running are done; a
    finished one cannot be cancelled (409, as OpenAI answers)."""
    async with sessions() as session, session.begin():
        batch = await batches.get(session, customer_id, batch_id, lock=True)
        if batch is None:
            raise not_found(batch_id)
        if batch.status in ("validating", "in_progress"):
            batch.status, batch.cancelling_at = "cancelling", utcnow()
        elif batch.status not in ("cancelling", "cancelled"):
            raise Conflict(
                f"Cannot cancel a batch with status '{batch.status}'.", param="batch_id", code="batch_not_cancellable"
            )
    return described(batch)
