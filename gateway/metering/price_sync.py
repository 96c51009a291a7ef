"""Publishing the prices declared in the config file as a new price-book version, when they changed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import ModelPrice
from gateway.metering import price_books
from gateway.metering.price_book import rates_of
from gateway.metering.serving_cost import cost_block, cost_rates
from gateway.settings import Pricing, Settings


def model_price(model: str, pricing: Pricing, cost: Pricing | None = None) -> ModelPrice:
    """The price-book row of ``model``'s prices (and what serving it costs the operator, ``cost``),
    from the config or from the admin API."""
    return ModelPrice(
        model=model,
        input_per_mtok=pricing.input_per_mtok,
        output_per_mtok=pricing.output_per_mtok,
        cached_input_per_mtok=pricing.cached_input_per_mtok,
        cache_write_per_mtok=pricing.cache_write_per_mtok,
        reasoning_per_mtok=pricing.reasoning_per_mtok,
        per_image=None if pricing.per_image is None else {size: str(usd) for size, usd in pricing.per_image.items()},
        per_audio_second=pricing.per_audio_second,
        per_mchar=pricing.per_mchar,
        gpu_hour_usd=pricing.gpu_hour_usd,
        tokens_per_gpu_hour=pricing.tokens_per_gpu_hour,
        cost=cost_block(cost),
    )


async def publish_config_prices(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> int | None:
    """Append a version when the config's prices differ from the one in force; models priced only
    through the admin API keep their prices. Returns the new version, or None when nothing changed."""
    declared = {m.name: model_price(m.name, m.pricing, m.cost) for m in settings.models if m.pricing is not None}
    if not declared:
        return None
    async with sessions() as session, session.begin():
        current = await price_books.current(session)
        existing = {p.model: p for p in current.prices} if current else {}
        if all(name in existing and _same(existing[name], price) for name, price in declared.items()):
            return None
        kept = [_copy(p) for name, p in existing.items() if name not in declared]
        note = f"prices from {settings.source}"
        hit_percent = current.book.cache_hit_percent if current else None
        published = await price_books.publish(
            session,
            [*kept, *declared.values()],
            note=note,
            **({"cache_hit_percent": hit_percent} if hit_percent is not None else {}),
        )
        return published.book.version


def _same(stored: ModelPrice, declared: ModelPrice) -> bool:
    cost = None if stored.cost is None else cost_rates(stored.cost)
    return rates_of(stored) == rates_of(declared) and cost == (
        None if declared.cost is None else cost_rates(declared.cost)
    )


def _copy(price: ModelPrice) -> ModelPrice:
    columns = ModelPrice.__table__.columns.keys()
    return ModelPrice(**{c: getattr(price, c) for c in columns if c not in ("id", "version")})
