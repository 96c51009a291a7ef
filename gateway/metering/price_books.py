"""Versioned price books: append-only; the newest version is the one in force."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import Conflict, InvalidRequest
from gateway.db.models import ModelPrice, PriceBook


@dataclass(frozen=True, slots=True)
class PriceBookVersion:
    book: PriceBook
    prices: list[ModelPrice]  # ordered by model name

    def price_of(self, model: str) -> ModelPrice | None:
        return next((price for price in self.prices if price.model == model), None)


async def current(session: AsyncSession) -> PriceBookVersion | None:
    latest = await session.scalar(select(func.max(PriceBook.version)))
    return None if latest is None else await get(session, latest)


async def get(session: AsyncSession, version: int) -> PriceBookVersion | None:
    book = await session.get(PriceBook, version)
    if book is None:
        return None
    result = await session.execute(select(ModelPrice).where(ModelPrice.version == version).order_by(ModelPrice.model))
    return PriceBookVersion(book, list(result.scalars()))


async def versions(session: AsyncSession) -> list[PriceBook]:
    result = await session.execute(select(PriceBook).order_by(PriceBook.version.desc()))
    return list(result.scalars())


async def publish(
    session: AsyncSession,
    prices: Sequence[ModelPrice],
    *,
    note: str | None = None,
    cache_hit_percent: Decimal = Decimal(0),
) -> PriceBookVersion:
    """Append version N+1 holding ``prices`` (new, unsaved rows; their ``version`` is set here).

    Two publishers racing for the same number collide on the primary key: the loser gets a
    :class:`Conflict` and its transaction rolls back whole, so a version is never half-written.
    """
    models = [price.model for price in prices]
    if len(set(models)) != len(models):
        raise InvalidRequest("A price book lists each model once.", param="models")
    latest = await session.scalar(select(func.max(PriceBook.version)))
    version = (latest or 0) + 1
    book = PriceBook(version=version, note=note, cache_hit_percent=cache_hit_percent)
    session.add(book)
    try:
        await session.flush()
        for price in prices:
            price.version = version
        session.add_all(prices)
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Price book version {version} was published by someone else meanwhile; publish again.",
            code="version_conflict",
        ) from exc
    return PriceBookVersion(book, sorted(prices, key=lambda price: price.model))
