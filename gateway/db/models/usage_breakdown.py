"""Hourly breakdowns that the usage rollups cannot hold as plain sums: latency histograms and
errors by kind. Written with the rollups, in the same transaction, from the same new events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime


class LatencyRollup(Base):
    """How many requests of one model fell in one latency bucket in one hour.

    ``metric`` is ``latency`` (the whole request) or ``ttft`` (time to the first token, streams
    only); ``bucket`` is ``gateway.metering.latency_buckets.bucket_of`` of the milliseconds.
    """

    __tablename__ = "latency_rollups"

    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ErrorRollup(Base):
    """How many requests of one customer and model ended in one kind of error in one hour.

    The kind is the event's outcome and HTTP status, e.g. ``upstream_error 503``.
    """

    __tablename__ = "error_rollups"

    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
