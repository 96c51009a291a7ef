"""The dashboard's reads: sums over the hourly rollups by period and by customer, key or model.

Every query here reads rollup tables only (never ``usage_events``), over a range of hours that
the primary keys, which start with ``hour``, select by index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from gateway.db.buckets import day_start
from gateway.db.models import ApiKey, Customer, ErrorRollup, LatencyRollup, UsageRollup

Step = Literal["hour", "day"]
Dimension = Literal["customer", "key", "model"]
Hours = QueryableAttribute[dt.datetime]


@dataclass(frozen=True, slots=True)
class Span:
    """The hours that start in ``[start, end)``, cut into periods of one ``step``."""

    start: dt.datetime
    end: dt.datetime
    step: Step


@dataclass(frozen=True, slots=True)
class Sums:
    period: dt.datetime | None
    group: str | int | None  # the customer's or key's id, or the model
    requests: int
    errors: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    saved_micros: int


@dataclass(frozen=True, slots=True)
class Count:
    period: dt.datetime | None
    group: str  # a latency metric and model, or an error kind
    bucket: int | None
    count: int


_SUMMED = ("requests", "errors", "cache_hits", "input_tokens", "output_tokens", "cost_micros", "saved_micros")
_DIMENSIONS: dict[Dimension, QueryableAttribute[Any]] = {
    "customer": UsageRollup.customer_id,
    "key": UsageRollup.api_key_id,
    "model": UsageRollup.model,
}


def _period(session: AsyncSession, hour: Hours, step: Step) -> ColumnElement[dt.datetime] | Hours:
    return hour if step == "hour" else day_start(hour, session.get_bind().dialect.name)


def _within(hour: Hours, span: Span) -> list[ColumnElement[bool]]:
    return [hour >= span.start, hour < span.end]


async def usage_sums(session: AsyncSession, span: Span, *, by_period: bool, by: Dimension | None = None) -> list[Sums]:
    """Usage summed per period (when ``by_period``) and per customer, key or model (``by``)."""
    keys: list[Any] = []
    if by_period:
        keys.append(_period(session, UsageRollup.hour, span.step).label("period"))
    if by is not None:
        keys.append(_DIMENSIONS[by].label("grouped"))
    sums = [func.sum(getattr(UsageRollup, name)).label(name) for name in _SUMMED]
    query = select(*keys, *sums).where(*_within(UsageRollup.hour, span))
    result = await session.execute(query.group_by(*keys) if keys else query)
    found = []
    for row in result:
        values = row._mapping
        if values["requests"] is None:  # no rows at all: the sums of nothing
            continue
        period = values["period"] if by_period else None
        group = values["grouped"] if by is not None else None
        found.append(Sums(period, group, *(int(values[name]) for name in _SUMMED)))
    return found


async def latency_counts(session: AsyncSession, span: Span, *, by_period: bool) -> list[Count]:
    """Requests per latency bucket, per metric (``latency``, ``ttft``) and per period, or per
    metric and model (``"<metric> <model>"``) when not by period."""
    rollup = LatencyRollup
    keys: list[Any] = [rollup.metric, rollup.bucket]
    keys.append(_period(session, rollup.hour, span.step).label("period") if by_period else rollup.model)
    query = select(*keys, func.sum(rollup.count).label("n")).where(*_within(rollup.hour, span)).group_by(*keys)
    found = []
    for row in await session.execute(query):
        values = row._mapping
        group = values["metric"] if by_period else f"{values['metric']} {values['model']}"
        found.append(Count(values["period"] if by_period else None, group, values["bucket"], int(values["n"])))
    return found


async def error_counts(session: AsyncSession, span: Span, *, by_period: bool) -> list[Count]:
    """Errors per kind, and per period when ``by_period``."""
    rollup = ErrorRollup
    keys: list[Any] = [rollup.kind]
    if by_period:
        keys.append(_period(session, rollup.hour, span.step).label("period"))
    query = select(*keys, func.sum(rollup.count).label("n")).where(*_within(rollup.hour, span)).group_by(*keys)
    return [
        Count(row._mapping["period"] if by_period else None, row._mapping["kind"], None, int(row._mapping["n"]))
        for row in await session.execute(query)
    ]


async def labels(session: AsyncSession, by: Dimension, ids: list[Any]) -> dict[Any, str]:
    """What to call each customer (its name) or key (its prefix and name); models are their own label."""
    if by == "model" or not ids:
        return {model: str(model) for model in ids}
    if by == "customer":
        rows = await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
        return {customer_id: name for customer_id, name in rows}
    query = (
        select(ApiKey.id, ApiKey.prefix, ApiKey.name, Customer.name)
        .join(Customer, Customer.id == ApiKey.customer_id)
        .where(ApiKey.id.in_(ids))
    )
    return {key_id: f"{customer}/{name or prefix}" for key_id, prefix, name, customer in await session.execute(query)}
