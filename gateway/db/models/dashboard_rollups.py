"""What the dashboard reads: totals per hour and per UTC day, each for one dimension at a time.

The usage rollups hold one row per hour, customer, key and model, which is what invoices and the
admin API need, but far too many rows to sum for a chart over 90 days. These tables hold, for every
hour and every day, one row per customer, one per key, one per model and one for everything; so a
page sums at most (periods × members) rows, however many requests there were. They are written by
the journal writer with the usage rollups, in the same transaction, from the same new events.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime

STEPS = ("hour", "day")
DIMENSIONS = ("all", "customer", "key", "model")
# The usage counters these tables keep (a subset of the usage rollups').
TOTALS = (
    "requests",
    "errors",
    "cache_hits",
    "input_tokens",
    "output_tokens",
    "cost_micros",
    "saved_micros",
    "serving_cost_micros",
)


class UsageTotal(Base):
    """Usage in one hour or day of one customer (``member`` is its id), key (its id), model (its
    name), or of everything (``dimension`` ``all``, ``member`` empty)."""

    __tablename__ = "usage_totals"
    # Every column, the counters after the key: pages sum them from the index alone (an index-only
    # scan on Postgres), never visiting the table's pages.
    __table_args__ = (Index("ix_usage_totals_covering", "dimension", "step", "start", "member", *TOTALS),)

    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    step: Mapped[str] = mapped_column(String(4), primary_key=True)
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    saved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    serving_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LatencyRollup(Base):
    """How many requests of one model fell in one latency bucket in one hour or day.

    ``metric`` is ``latency`` (the whole request) or ``ttft`` (time to the first token, streams
    only); ``bucket`` is ``gateway.metering.latency_buckets.bucket_of`` of the milliseconds.
    """

    __tablename__ = "latency_rollups"
    __table_args__ = (Index("ix_latency_rollups_covering", "step", "start", "model", "metric", "bucket", "count"),)

    step: Mapped[str] = mapped_column(String(4), primary_key=True)
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ErrorRollup(Base):
    """How many requests ended in one kind of error in one hour or day; the kind is the event's
    outcome and HTTP status, e.g. ``upstream_error 503``."""

    __tablename__ = "error_rollups"

    step: Mapped[str] = mapped_column(String(4), primary_key=True)
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
