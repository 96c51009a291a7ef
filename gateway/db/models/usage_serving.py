"""What self-hosted pools cost the operator: replica samples, and each settled pool-hour.

A gateway samples every vLLM pool every ``SAMPLE_SECONDS``: how many replicas run (a sleeping pool
runs none) and how many were busy by vLLM's own ``/metrics``. Samples are keyed by the slot they
fall in, so several gateways sampling one pool write each slot once. A settled hour turns them into
a bill (``replicas x time running x gpu_hour_usd``) allocated to the hour's requests, the rest idle.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow


class PoolSample(Base):
    __tablename__ = "pool_samples"

    pool: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)  # the slot's start
    seconds: Mapped[float] = mapped_column(Float)  # the slot's length
    replicas: Mapped[int] = mapped_column(SmallInteger)  # running (able to serve) during the slot
    busy: Mapped[int | None] = mapped_column(SmallInteger)  # with requests running or waiting; None: no metrics


class PoolHour(Base):
    """One settled hour of one pool: its bill, how much of it the requests used, and the idle rest.
    ``bill_micros == allocated_micros + idle_micros`` exactly; the allocated part is the sum of the
    hour's events' ``serving_cost_micros``."""

    __tablename__ = "pool_hours"

    pool: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    replica_seconds: Mapped[float] = mapped_column(Float)
    busy_seconds: Mapped[float] = mapped_column(Float)
    busy_source: Mapped[str] = mapped_column(String(16))  # "vllm" (metrics) or "latency" (the requests')
    requests: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(BigInteger)
    bill_micros: Mapped[int] = mapped_column(BigInteger)
    allocated_micros: Mapped[int] = mapped_column(BigInteger)
    idle_micros: Mapped[int] = mapped_column(BigInteger)
    settled_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
