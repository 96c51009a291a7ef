"""Hourly totals per customer, key and model, kept in step with the events they sum."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime

# The columns that add up a usage event's field of the same name, and all the summed columns.
EVENT_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "audio_seconds",
    "characters",
    "cost_micros",
    "saved_micros",
)
# serving_cost_micros is not a field of the journaled record: ingest prices it (gateway/metering/serving_cost.py).
COUNTERS = ("requests", "errors", "cache_hits", *EVENT_SUMS, "serving_cost_micros", "latency_ms_sum")


class UsageRollup(Base):
    __tablename__ = "usage_rollups"
    # The primary key serves time-range scans; reports for one customer read this index.
    __table_args__ = (Index("ix_usage_rollups_customer_hour", "customer_id", "hour"),)

    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    cache_hits: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    images: Mapped[int] = mapped_column(BigInteger, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    characters: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    saved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    serving_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
