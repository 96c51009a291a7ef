"""Versioned price books in storage, on SQLite and Postgres: appended, never rewritten."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import InvalidRequest
from gateway.db.models import ModelPrice
from gateway.metering import price_books

Sessions = async_sessionmaker[AsyncSession]


async def test_publishing_appends_a_version_and_keeps_the_old_one(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        assert await price_books.current(session) is None
        first = await price_books.publish(
            session,
            [ModelPrice(model="gpt-x", input_per_mtok=Decimal("0.150000001"), output_per_mtok=Decimal("0.6"))],
            note="launch",
        )
    async with sessions.begin() as session:
        second = await price_books.publish(
            session,
            [
                ModelPrice(model="gpt-x", input_per_mtok=Decimal("0.2"), output_per_mtok=Decimal("0.8")),
                ModelPrice(model="pool-a", gpu_hour_usd=Decimal("2.5"), tokens_per_gpu_hour=9_000_000),
            ],
            cache_hit_percent=Decimal("10"),
        )

    async with sessions.begin() as session:
        current = await price_books.current(session)
        old = await price_books.get(session, 1)

    assert (first.book.version, second.book.version) == (1, 2)
    assert current is not None and current.book.version == 2
    assert current.book.cache_hit_percent == Decimal("10")
    assert [p.model for p in current.prices] == ["gpt-x", "pool-a"]
    pool = current.price_of("pool-a")
    assert pool is not None and pool.gpu_hour_usd == Decimal("2.5") and pool.tokens_per_gpu_hour == 9_000_000
    assert old is not None and old.book.note == "launch"
    gpt = old.price_of("gpt-x")
    assert gpt is not None and gpt.input_per_mtok == Decimal("0.150000001")  # exact: no floats on the way


async def test_a_book_with_a_model_twice_is_refused_whole(sessions: Sessions) -> None:
    with pytest.raises(InvalidRequest):
        async with sessions.begin() as session:
            await price_books.publish(session, [ModelPrice(model="m"), ModelPrice(model="m")])
    async with sessions.begin() as session:
        assert await price_books.current(session) is None
