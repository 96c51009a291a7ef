"""Stored responses, always read and deleted within one customer: another's id reads as unknown."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import StoredResponse


async def find(session: AsyncSession, customer_id: int, response_id: str) -> StoredResponse | None:
    statement = select(StoredResponse).where(
        StoredResponse.id == response_id, StoredResponse.customer_id == customer_id
    )
    return (await session.execute(statement)).scalar_one_or_none()


def add(session: AsyncSession, row: StoredResponse) -> None:
    session.add(row)


async def remove(session: AsyncSession, customer_id: int, response_id: str) -> bool:
    """Delete the customer's response; False when it has none of that id."""
    statement = (
        delete(StoredResponse)
        .where(StoredResponse.id == response_id, StoredResponse.customer_id == customer_id)
        .returning(StoredResponse.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None
