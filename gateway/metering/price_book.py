"""The price book in force, as an immutable snapshot the hot path reads without the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import ModelPrice
from gateway.metering import price_books
from gateway.metering.price_books import PriceBookVersion
from gateway.metering.pricing import ModelRates, PriceBook

log = logging.getLogger("tollgate.pricing")

NO_PRICES = PriceBook(version=0)


def rates_of(price: ModelPrice) -> ModelRates:
    return ModelRates(
        input_per_mtok=price.input_per_mtok,
        output_per_mtok=price.output_per_mtok,
        cached_input_per_mtok=price.cached_input_per_mtok,
        cache_write_per_mtok=price.cache_write_per_mtok,
        reasoning_per_mtok=price.reasoning_per_mtok,
        per_image={size: Decimal(value) for size, value in (price.per_image or {}).items()},
        per_audio_second=price.per_audio_second,
        per_mchar=price.per_mchar,
        gpu_hour_usd=price.gpu_hour_usd,
        tokens_per_gpu_hour=price.tokens_per_gpu_hour,
    )


def snapshot(version: PriceBookVersion | None) -> PriceBook:
    if version is None:
        return NO_PRICES
    return PriceBook(
        version=version.book.version,
        models={price.model: rates_of(price) for price in version.prices},
        cache_hit_percent=version.book.cache_hit_percent,
        batch_discount_percent=version.book.batch_discount_percent,
    )


async def load_current(sessions: async_sessionmaker[AsyncSession]) -> PriceBook:
    async with sessions() as session:
        return snapshot(await price_books.current(session))


async def follow(
    sessions: async_sessionmaker[AsyncSession], apply: Callable[[PriceBook], None], interval: float
) -> None:
    """Pick up newly published versions (from the admin API on any replica)."""
    while True:
        await asyncio.sleep(interval)
        try:
            apply(await load_current(sessions))
        except Exception as exc:
            log.warning("could not reload the price book (keeping the current one): %s", exc)
