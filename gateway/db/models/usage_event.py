"""Usage events: one per request, append-only, unique on the request id. What customers are billed from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_customer_time", "customer_id", "created_at"),)

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    api_key_id: Mapped[int] = mapped_column(Integer, index=True)
    model: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str | None] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(64))
    streamed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    characters: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    cache_status: Mapped[str] = mapped_column(String(16), default="miss")
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    saved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # What serving it cost the operator (never shown to customers): list prices of an external backend,
    # set when the event is stored; a self-hosted pool's share of its GPU-hours, set when the hour is
    # settled (gateway/metering/pool_hours.py). cost_micros - serving_cost_micros is the margin.
    serving_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    price_book_version: Mapped[int | None] = mapped_column(Integer)
    # The id in the answer's body (the upstream's chatcmpl-...), which POST /v1/feedback may name.
    answer_id: Mapped[str | None] = mapped_column(String(200), index=True)
