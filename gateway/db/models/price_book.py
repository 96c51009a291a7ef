"""Versioned price books. A new version is appended for every change; usage events name theirs.

Token prices are US dollars per million tokens. Images are priced per image by ``size/quality``
(for example ``{"1024x1024/standard": "0.04"}``), audio per second, speech per million characters.
A self-hosted pool may instead carry ``gpu_hour_usd`` and ``tokens_per_gpu_hour`` (its measured
throughput): every token, in or out, then costs ``gpu_hour_usd / tokens_per_gpu_hour``, which spreads
the GPU's hourly price over the tokens it serves in that hour (see ``docs/pricing.md``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow

Price = Numeric(18, 9)


class PriceBook(Base):
    __tablename__ = "price_books"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    # What a response-cache hit costs the customer, as a percentage of the full price.
    cache_hit_percent: Mapped[Decimal] = mapped_column(Numeric(7, 3), default=Decimal(0))
    # What a line of a /v1/batches job is discounted, as a percentage of the full price.
    batch_discount_percent: Mapped[Decimal] = mapped_column(
        Numeric(7, 3), default=Decimal(50), server_default=text("50")
    )


class ModelPrice(Base):
    __tablename__ = "model_prices"
    __table_args__ = (UniqueConstraint("version", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("price_books.version", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    input_per_mtok: Mapped[Decimal] = mapped_column(Price, default=Decimal(0))
    cached_input_per_mtok: Mapped[Decimal | None] = mapped_column(Price, default=None)
    cache_write_per_mtok: Mapped[Decimal | None] = mapped_column(Price, default=None)
    output_per_mtok: Mapped[Decimal] = mapped_column(Price, default=Decimal(0))
    reasoning_per_mtok: Mapped[Decimal | None] = mapped_column(Price, default=None)
    per_image: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    per_audio_second: Mapped[Decimal | None] = mapped_column(Price, default=None)
    per_mchar: Mapped[Decimal | None] = mapped_column(Price, default=None)
    gpu_hour_usd: Mapped[Decimal | None] = mapped_column(Price, default=None)
    tokens_per_gpu_hour: Mapped[int | None] = mapped_column(Integer, default=None)
    # What serving the model costs the operator at the provider's list prices: the config's ``cost``
    # block, the same fields as the prices above, as decimal strings (gateway/metering/serving_cost.py).
    cost: Mapped[dict[str, object] | None] = mapped_column(JSON(none_as_null=True), default=None)
