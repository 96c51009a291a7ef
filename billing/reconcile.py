"""Reconciliation: a customer's usage, hour by hour, against what Stripe's meter has aggregated.

Every hour where the two differ is listed with its likely cause; each run is stored, so that the
dashboard can show the latest one. Stripe aggregates asynchronously, so the hours sent in the last
minutes may show as ``missing_at_stripe`` until it catches up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.meter_plan import HOUR, hour_ceil, hour_floor, plannable_since
from gateway.core.errors import InvalidRequest
from gateway.customers import repository as customers
from gateway.db.models import BillingReconciliation, Customer, MeterEventRow, UsageRollup
from gateway.db.models.base import utcnow

if TYPE_CHECKING:
    from billing.stripe_api import StripeApi

# Why an hour differs, from what Tollgate knows: the usage is not sent yet (pending, or its hour not
# closed); it is too old for Stripe to take; Stripe accepted it but does not count it (rejected
# later, or not aggregated yet); Stripe counts more than Tollgate measured.
KINDS = ("not_sent_yet", "too_old_to_send", "missing_at_stripe", "extra_at_stripe")


@dataclass(frozen=True, slots=True)
class HourDifference:
    hour: dt.datetime
    tollgate_micros: int  # usage stored by Tollgate
    sent_micros: int  # accepted by Stripe, by Tollgate's records
    stripe_micros: int  # aggregated by Stripe's meter
    kind: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    customer_id: int
    customer: str
    stripe_customer_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    tollgate_micros: int
    stripe_micros: int
    differences: list[HourDifference]


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    api: StripeApi,
    customer_name: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime | None = None,
) -> Reconciliation:
    """Compare the hours in ``[start, end)``, widened to whole hours and cut where the current hour
    starts (Stripe cannot have it yet)."""
    now = now or utcnow()
    start, end = hour_floor(start), min(hour_ceil(end), hour_floor(now))
    if start >= end:
        raise InvalidRequest(
            "The period to reconcile must end after it starts and start before the current hour.", param="from"
        )
    async with sessions() as session:
        customer = await customers.require(session, customer_name)
        if customer.stripe_customer_id is None:
            raise InvalidRequest(
                f"Customer {customer.name!r} has no Stripe customer yet: run `tollgate billing sync` first.",
                param="customer",
            )
        used = await _usage_by_hour(session, customer.id, start, end)
        sent = await _sent_by_hour(session, customer.id, start, end)
    received = await api.event_summaries(customer.stripe_customer_id, start, end)
    stripe_by_hour = {dt.datetime.fromtimestamp(epoch, dt.UTC): value for epoch, value in received.items()}
    differences = _differences(used, sent, stripe_by_hour, plannable_since(now))
    result = Reconciliation(
        customer_id=customer.id,
        customer=customer.name,
        stripe_customer_id=customer.stripe_customer_id,
        period_start=start,
        period_end=end,
        tollgate_micros=sum(used.values()),
        stripe_micros=sum(stripe_by_hour.values()),
        differences=differences,
    )
    async with sessions.begin() as session:
        session.add(_stored(result, now))
    return result


async def reconcile_linked(
    sessions: async_sessionmaker[AsyncSession], api: StripeApi, start: dt.datetime, end: dt.datetime
) -> list[Reconciliation]:
    """Reconcile every customer linked to Stripe, by name."""
    async with sessions() as session:
        query = select(Customer.name).where(Customer.stripe_customer_id.is_not(None)).order_by(Customer.name)
        names = list((await session.execute(query)).scalars())
    return [await reconcile(sessions, api, name, start, end) for name in names]


async def _usage_by_hour(
    session: AsyncSession, customer_id: int, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, int]:
    query = (
        select(UsageRollup.hour, func.sum(UsageRollup.cost_micros))
        .where(UsageRollup.customer_id == customer_id, UsageRollup.hour >= start, UsageRollup.hour < end)
        .group_by(UsageRollup.hour)
    )
    return {hour: int(total) for hour, total in await session.execute(query)}


async def _sent_by_hour(
    session: AsyncSession, customer_id: int, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, int]:
    query = (
        select(MeterEventRow.hour, func.sum(MeterEventRow.value_micros))
        .where(
            MeterEventRow.customer_id == customer_id,
            MeterEventRow.status == "sent",
            MeterEventRow.hour >= start,
            MeterEventRow.hour < end,
        )
        .group_by(MeterEventRow.hour)
    )
    return {hour: int(total) for hour, total in await session.execute(query)}


def _differences(
    used: dict[dt.datetime, int],
    sent: dict[dt.datetime, int],
    received: dict[dt.datetime, int],
    oldest_sendable: dt.datetime,
) -> list[HourDifference]:
    found = []
    for hour in sorted({*used, *sent, *received}):
        tollgate, accepted, stripe = used.get(hour, 0), sent.get(hour, 0), received.get(hour, 0)
        if tollgate == stripe:
            continue
        if stripe > tollgate:
            kind = "extra_at_stripe"
        elif stripe < accepted:
            kind = "missing_at_stripe"
        elif hour < oldest_sendable:
            kind = "too_old_to_send"
        else:
            kind = "not_sent_yet"
        found.append(HourDifference(hour, tollgate, accepted, stripe, kind))
    return found


def _stored(result: Reconciliation, now: dt.datetime) -> BillingReconciliation:
    details = [{**asdict(diff), "hour": diff.hour.isoformat().replace("+00:00", "Z")} for diff in result.differences]
    return BillingReconciliation(
        customer_id=result.customer_id,
        period_start=result.period_start,
        period_end=result.period_end,
        checked_at=now,
        tollgate_micros=result.tollgate_micros,
        stripe_micros=result.stripe_micros,
        differences=len(result.differences),
        details=details,
    )


def last_day(now: dt.datetime, settle_seconds: float) -> tuple[dt.datetime, dt.datetime]:
    """What the job reconciles: 24 hours, ending an hour before the newest closed hour, which has
    just been sent and which Stripe may not have aggregated yet."""
    end = hour_floor(now - dt.timedelta(seconds=settle_seconds)) - HOUR
    return end - 24 * HOUR, end
