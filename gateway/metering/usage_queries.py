"""Usage reports, summed from the hourly rollups, and the raw events behind them.

The rollups are written by the journal writer in the same transaction as the events they sum, so a
report and the event listing always agree. A rollup row covers one hour: a time range selects the
hours that *start* inside ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from gateway.db.buckets import day_start
from gateway.db.models import ApiKey, Customer, UsageEvent, UsageRollup
from gateway.db.models.usage_rollup import COUNTERS

GroupBy = Literal["model", "key", "customer", "hour", "day"]
GROUPINGS: tuple[GroupBy, ...] = ("model", "key", "customer", "hour", "day")
MAX_EVENTS = 1000

_FLOATS = frozenset({"audio_seconds", "latency_ms_sum"})


@dataclass(frozen=True, slots=True)
class UsageFilter:
    customer_id: int | None = None
    api_key_id: int | None = None
    model: str | None = None
    start: dt.datetime | None = None  # inclusive
    end: dt.datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class UsageTotals:
    group: str  # the model, the key's prefix, the customer's name, or the hour/day as ISO 8601
    group_id: int | None  # the key's or the customer's id
    start: dt.datetime | None  # the hour or day
    requests: int
    errors: int
    cache_hits: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    images: int
    audio_seconds: float
    characters: int
    cost_micros: int
    saved_micros: int
    serving_cost_micros: int  # what serving it cost the operator (admin only)
    latency_ms_sum: float


async def totals(session: AsyncSession, where: UsageFilter, group_by: GroupBy) -> list[UsageTotals]:
    """One row per group: by cost, highest first; hours and days in time order."""
    sums = [func.coalesce(func.sum(getattr(UsageRollup, name)), 0).label(name) for name in COUNTERS]
    groups = _group_columns(group_by, session.get_bind().dialect.name)
    query = select(*groups, *sums).select_from(UsageRollup)
    if group_by == "key":
        query = query.outerjoin(ApiKey, ApiKey.id == UsageRollup.api_key_id)
    elif group_by == "customer":
        query = query.outerjoin(Customer, Customer.id == UsageRollup.customer_id)
    rollup = UsageRollup
    conditions = _conditions(where, rollup.customer_id, rollup.api_key_id, rollup.model, rollup.hour)
    query = query.where(*conditions).group_by(*groups)
    result = await session.execute(query)
    rows = [_totals(group_by, row._mapping) for row in result]
    if group_by in ("hour", "day"):
        return sorted(rows, key=lambda row: row.start or dt.datetime.min.replace(tzinfo=dt.UTC))
    return sorted(rows, key=lambda row: (-row.cost_micros, row.group))


async def events(
    session: AsyncSession,
    where: UsageFilter,
    *,
    limit: int = 100,
    before: tuple[dt.datetime, str] | None = None,
) -> list[UsageEvent]:
    """Events newest first, at most ``limit`` (capped at 1000), strictly older than ``before``
    (the ``(created_at, request_id)`` of the last event of the previous page)."""
    event = UsageEvent
    conditions = _conditions(where, event.customer_id, event.api_key_id, event.model, event.created_at)
    query = select(UsageEvent).where(*conditions)
    if before is not None:
        at, request_id = before
        query = query.where(
            or_(UsageEvent.created_at < at, and_(UsageEvent.created_at == at, UsageEvent.request_id < request_id))
        )
    query = query.order_by(UsageEvent.created_at.desc(), UsageEvent.request_id.desc())
    result = await session.execute(query.limit(max(1, min(limit, MAX_EVENTS))))
    return list(result.scalars())


def _group_columns(group_by: GroupBy, dialect: str) -> list[ColumnElement[Any] | QueryableAttribute[Any]]:
    if group_by == "model":
        return [UsageRollup.model]
    if group_by == "key":
        return [UsageRollup.api_key_id, ApiKey.prefix]
    if group_by == "customer":
        return [UsageRollup.customer_id, Customer.name]
    if group_by == "hour":
        return [UsageRollup.hour]
    return [day_start(UsageRollup.hour, dialect).label("day")]


def _totals(group_by: GroupBy, row: Any) -> UsageTotals:
    values: dict[str, Any] = {name: float(row[name]) if name in _FLOATS else int(row[name]) for name in COUNTERS}
    if group_by == "model":
        return UsageTotals(group=row["model"], group_id=None, start=None, **values)
    if group_by == "key":
        key_id = row["api_key_id"]
        return UsageTotals(group=row["prefix"] or f"#{key_id}", group_id=key_id, start=None, **values)
    if group_by == "customer":
        customer_id = row["customer_id"]
        return UsageTotals(group=row["name"] or f"#{customer_id}", group_id=customer_id, start=None, **values)
    start: dt.datetime = row[group_by]
    return UsageTotals(group=start.isoformat().replace("+00:00", "Z"), group_id=None, start=start, **values)


def _conditions(
    where: UsageFilter,
    customer: QueryableAttribute[int],
    key: QueryableAttribute[int],
    model: QueryableAttribute[str],
    time: QueryableAttribute[dt.datetime],
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.customer_id is not None:
        found.append(customer == where.customer_id)
    if where.api_key_id is not None:
        found.append(key == where.api_key_id)
    if where.model is not None:
        found.append(model == where.model)
    if where.start is not None:
        found.append(time >= where.start)
    if where.end is not None:
        found.append(time < where.end)
    return found
