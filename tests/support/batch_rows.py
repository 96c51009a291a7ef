"""Batches written straight into the database, for the tests of what claims, runs and finishes them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import repository as batches
from gateway.batches.input import InputLine
from gateway.db.models import Batch, Customer
from gateway.db.models.base import utcnow


async def seed_batch(
    sessions: async_sessionmaker[AsyncSession],
    count: int,
    *,
    model: str = "m",
    expires_in: dt.timedelta = dt.timedelta(hours=24),
    **fields: object,
) -> str:
    """The id of a new in-progress chat batch of ``count`` unrun lines (``custom_id`` ``c-0``...),
    owned by a new customer; ``fields`` overrides the batch's columns."""
    async with sessions() as session, session.begin():
        customer = Customer(name=f"batch-{utcnow().timestamp()}")
        session.add(customer)
        await session.flush()
        now = utcnow()
        batch = Batch(
            id=batches.new_batch_id(),
            customer_id=customer.id,
            api_key_id=1,
            endpoint="/v1/chat/completions",
            input_file_id="file-x",
            completion_window="24h",
            status="in_progress",
            created_at=now,
            expires_at=now + expires_in,
            total=count,
            completed=0,
            failed=0,
        )
        for name, value in fields.items():
            setattr(batch, name, value)
        session.add(batch)
        await session.flush()
        await batches.add_lines(session, batch.id, [InputLine(n + 1, f"c-{n}", model, b"{}") for n in range(count)])
    return batch.id
