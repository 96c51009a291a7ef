"""Deciding what Stripe is owed: hourly usage not yet in the outbox becomes outbox rows.

A row's identifier is ``<prefix>-<customer id>-<YYYYMMDDHH>-<n>``, the n-th amount planned for that
customer and hour, and its value is what the hour's usage exceeds the amounts planned before it.
Two planners racing write the same identifier: the database keeps one, and what the loser saw
beyond it is planned on the next run. Usage stored late for an hour already sent becomes one more
row for that hour, so nothing is sent twice and nothing is left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.inserts import insert_for
from gateway.db.models import Customer, MeterEventRow, UsageRollup

HOUR = dt.timedelta(hours=1)
# Stripe takes meter event values of at most 15 significant digits: a larger amount is split.
MAX_VALUE = 10**15 - 1
# Stripe refuses meter events older than 35 days. An hour is planned only while it is at most
# 34 days old, which leaves a day to send it; one still unsent an hour before the limit expires.
STRIPE_MAX_AGE = dt.timedelta(days=35)
PLAN_MAX_AGE = dt.timedelta(days=34)
SEND_MARGIN = HOUR


def hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: dt.datetime) -> dt.datetime:
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def plannable_since(now: dt.datetime) -> dt.datetime:
    """The oldest hour that may still be planned: usage before it can no longer reach Stripe."""
    return hour_ceil(now - PLAN_MAX_AGE)


def sendable_since(now: dt.datetime) -> dt.datetime:
    """Rows for hours before this are past Stripe's 35 days (less a margin) and are never sent."""
    return now - STRIPE_MAX_AGE + SEND_MARGIN


def closed_before(now: dt.datetime, settle_seconds: float) -> dt.datetime:
    """Hours starting before this ended ``settle_seconds`` ago or more."""
    return hour_floor(now - dt.timedelta(seconds=settle_seconds))


def identifier(prefix: str, customer_id: int, hour: dt.datetime, n: int) -> str:
    return f"{prefix}-{customer_id}-{hour:%Y%m%d%H}-{n}"


def split(amount: int) -> list[int]:
    """``amount`` in parts of at most :data:`MAX_VALUE`."""
    parts = [MAX_VALUE] * (amount // MAX_VALUE)
    return [*parts, amount % MAX_VALUE] if amount % MAX_VALUE else parts


async def plan(session: AsyncSession, prefix: str, now: dt.datetime, settle_seconds: float) -> int:
    """Write outbox rows for the closed, still sendable hours whose usage exceeds what was planned
    for them, for customers linked to Stripe. Returns how many rows it added."""
    since, until = plannable_since(now), closed_before(now, settle_seconds)
    used = (
        select(UsageRollup.customer_id, UsageRollup.hour, func.sum(UsageRollup.cost_micros).label("used"))
        .where(UsageRollup.hour >= since, UsageRollup.hour < until)
        .group_by(UsageRollup.customer_id, UsageRollup.hour)
        .subquery()
    )
    planned = (
        select(
            MeterEventRow.customer_id,
            MeterEventRow.hour,
            func.sum(MeterEventRow.value_micros).label("planned"),
            func.count().label("rows"),
        )
        .where(MeterEventRow.hour >= since)
        .group_by(MeterEventRow.customer_id, MeterEventRow.hour)
        .subquery()
    )
    already = func.coalesce(planned.c.planned, 0)
    query = (
        select(used.c.customer_id, used.c.hour, used.c.used, already, func.coalesce(planned.c.rows, 0))
        .add_columns(Customer.stripe_customer_id)
        .join(Customer, Customer.id == used.c.customer_id)
        .outerjoin(planned, and_(planned.c.customer_id == used.c.customer_id, planned.c.hour == used.c.hour))
        .where(Customer.stripe_customer_id.is_not(None), used.c.used > already)
    )
    rows: list[dict[str, Any]] = []
    for customer_id, hour, total, before, count, stripe_customer_id in await session.execute(query):
        for n, value in enumerate(split(int(total) - int(before)), start=int(count)):
            rows.append(
                {
                    "identifier": identifier(prefix, customer_id, hour, n),
                    "customer_id": customer_id,
                    "stripe_customer_id": stripe_customer_id,
                    "hour": hour,
                    "value_micros": value,
                    "status": "pending",
                    "planned_at": now,
                }
            )
    if rows:
        insert = insert_for(session)
        await session.execute(insert(MeterEventRow).on_conflict_do_nothing(index_elements=["identifier"]), rows)
    return len(rows)


async def expire(session: AsyncSession, now: dt.datetime) -> int:
    """Mark pending rows that Stripe would now refuse as expired; returns how many."""
    statement = (
        update(MeterEventRow)
        .where(MeterEventRow.status == "pending", MeterEventRow.hour < sendable_since(now))
        .values(status="expired")
    )
    result: Any = await session.execute(statement)
    return int(result.rowcount or 0)
