"""Stored files, always read through their customer: another customer's file is not there."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from gateway.db.models import StoredFile


def new_file_id() -> str:
    return f"file-{secrets.token_hex(12)}"


def add(session: AsyncSession, customer_id: int, filename: str, purpose: str, content: bytes) -> StoredFile:
    stored = StoredFile(
        id=new_file_id(),
        customer_id=customer_id,
        filename=filename,
        purpose=purpose,
        size=len(content),
        content=content,
    )
    session.add(stored)
    return stored


async def get(
    session: AsyncSession, customer_id: int, file_id: str, *, with_content: bool = False
) -> StoredFile | None:
    query = select(StoredFile).where(StoredFile.id == file_id, StoredFile.customer_id == customer_id)
    if with_content:
        query = query.options(undefer(StoredFile.content))
    stored: StoredFile | None = await session.scalar(query)
    return stored


async def listing(
    session: AsyncSession, customer_id: int, purpose: str | None, limit: int, newest_first: bool, after: str | None
) -> list[StoredFile]:
    """Up to ``limit + 1`` files (the extra one says there are more), ordered by creation, then id."""
    query = select(StoredFile).where(StoredFile.customer_id == customer_id)
    if purpose is not None:
        query = query.where(StoredFile.purpose == purpose)
    order = (
        (StoredFile.created_at.desc(), StoredFile.id.desc()) if newest_first else (StoredFile.created_at, StoredFile.id)
    )
    if after is not None:
        cursor = await get(session, customer_id, after)
        if cursor is not None:
            moment, ident = cursor.created_at, cursor.id
            if newest_first:
                query = query.where(
                    (StoredFile.created_at < moment) | ((StoredFile.created_at == moment) & (StoredFile.id < ident))
                )
            else:
                query = query.where(
                    (StoredFile.created_at > moment) | ((StoredFile.created_at == moment) & (StoredFile.id > ident))
                )
    return list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())


async def remove(session: AsyncSession, customer_id: int, file_id: str) -> bool:
    result = await session.execute(
        delete(StoredFile).where(StoredFile.id == file_id, StoredFile.customer_id == customer_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
