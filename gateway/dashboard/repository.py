"""The dashboard's reads, from its own rollups (``gateway.db.models.dashboard_rollups``) only.

Each query selects one step (hours or days) and a range of period starts, which the tables'
primary keys serve by index, and sums at most one row per period and member.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from gateway.db.models import ApiKey, Customer, ErrorRollup, LatencyRollup, UsageTotal
from gateway.db.models.dashboard_rollups import TOTALS

Step = Literal["hour", "day"]
Dimension = Literal["customer", "key", "model"]


@dataclass(frozen=True, slots=True)
class Span:
    """The periods of one ``step`` that start in ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime
    step: Step


@dataclass(frozen=True, slots=True)
class Sums:
    period: dt.datetime | None
    member: str  # the customer's or key's id, the model, or "" for everything
    requests: int
    errors: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    saved_micros: int
    serving_cost_micros: int


@dataclass(frozen=True, slots=True)
class Count:
    period: dt.datetime | None
    group: str  # a latency metric, "<metric> <model>", or an error kind
    bucket: int | None
    count: int


def _within(step: QueryableAttribute[str], start: QueryableAttribute[dt.datetime], span: Span) -> list[Any]:
    return [step == span.step, start >= span.start, start < span.end]


async def usage_sums(
    session: AsyncSession,
    span: Span,
    *,
    by_period: bool,
    by: Dimension | Literal["all"] = "all",
    members: list[str] | None = None,
) -> list[Sums]:
    """Usage per member of ``by`` (or of everything; only of ``members`` when given), per period
    when ``by_period``, else over the span."""
    total = UsageTotal
    keys: list[Any] = [total.member] + ([total.start] if by_period else [])
    sums = [func.sum(getattr(total, name)).label(name) for name in TOTALS]
    where = [total.dimension == by, *_within(total.step, total.start, span)]
    if members is not None:
        where.append(total.member.in_(members))
    query = select(*keys, *sums).where(*where).group_by(*keys)
    return [
        Sums(row.start if by_period else None, row.member, *(int(getattr(row, name)) for name in TOTALS))
        for row in await session.execute(query)
    ]


async def latency_counts(session: AsyncSession, span: Span, *, by_period: bool) -> list[Count]:
    """Requests per latency bucket, per metric (``latency``, ``ttft``) and period, or per metric and
    model (``"<metric> <model>"``) over the span."""
    rollup = LatencyRollup
    keys: list[Any] = [rollup.metric, rollup.bucket, rollup.start if by_period else rollup.model]
    where = _within(rollup.step, rollup.start, span)
    query = select(*keys, func.sum(rollup.count).label("n")).where(*where).group_by(*keys)
    return [
        Count(row.start, row.metric, row.bucket, int(row.n))
        if by_period
        else Count(None, f"{row.metric} {row.model}", row.bucket, int(row.n))
        for row in await session.execute(query)
    ]


async def error_counts(session: AsyncSession, span: Span, *, by_period: bool) -> list[Count]:
    """Errors per kind, per period when ``by_period``."""
    rollup = ErrorRollup
    keys: list[Any] = [rollup.kind] + ([rollup.start] if by_period else [])
    where: list[ColumnElement[bool]] = _within(rollup.step, rollup.start, span)
    query = select(*keys, func.sum(rollup.count).label("n")).where(*where).group_by(*keys)
    return [Count(row.start if by_period else None, row.kind, None, int(row.n)) for row in await session.execute(query)]


async def labels(session: AsyncSession, by: Dimension, members: list[str]) -> dict[str, str]:
    """What to call each member: a customer by its name, a key by its customer and name (or prefix)."""
    ids = [int(member) for member in members if member.isdigit()]
    if by == "model" or not ids:
        return {member: member for member in members}
    if by == "customer":
        rows = await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
        return {str(customer_id): name for customer_id, name in rows}
    query = (
        select(ApiKey.id, ApiKey.prefix, ApiKey.name, Customer.name.label("customer"))
        .join(Customer, Customer.id == ApiKey.customer_id)
        .where(ApiKey.id.in_(ids))
    )
    return {str(row.id): f"{row.customer}/{row.name or row.prefix}" for row in await session.execute(query)}
