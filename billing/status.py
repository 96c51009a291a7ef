"""Billing at a glance, per customer, for the admins' dashboard: credit, sync and reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.meter_plan import plannable_since
from gateway.customers import credit_ledger as credits
from gateway.db.models import BillingReconciliation, Customer, MeterEventRow, UsageRollup
from gateway.db.models.base import utcnow


@dataclass(frozen=True, slots=True)
class CustomerBillingStatus:
    customer_id: int
    customer: str
    stripe_customer_id: str | None  # None until the first sync (or top-up) links it
    prepaid: bool
    credit_balance_micros: int
    last_synced_at: dt.datetime | None  # when Stripe last accepted usage of this customer
    synced_through: dt.datetime | None  # the newest hour whose usage Stripe has accepted
    # Usage Stripe has not accepted yet: planned and unsent, or in hours not planned yet.
    pending_micros: int
    # Usage that became too old for Stripe (35 days) before it could be sent: to invoice by hand.
    expired_micros: int
    last_reconciled_at: dt.datetime | None
    reconciled_from: dt.datetime | None
    reconciled_to: dt.datetime | None
    reconciliation_differences: int | None  # hours that differ; None: never reconciled


@dataclass(slots=True)
class _Outbox:
    last_sent_at: dt.datetime | None = None
    synced_through: dt.datetime | None = None
    pending: int = 0
    expired: int = 0
    recent: int = 0  # planned, any status, for the hours that may still be planned


async def billing_status(session: AsyncSession, now: dt.datetime | None = None) -> list[CustomerBillingStatus]:
    """Every customer, by name."""
    since = plannable_since(now or utcnow())
    everyone = list((await session.execute(select(Customer).order_by(Customer.name))).scalars())
    balances = await credits.balances(session)
    outbox = await _outbox(session, since)
    used = await _recent_usage(session, since)
    latest = await _latest_reconciliations(session)
    statuses = []
    for customer in everyone:
        box = outbox.get(customer.id, _Outbox())
        unplanned = max(0, used.get(customer.id, 0) - box.recent)
        check = latest.get(customer.id)
        statuses.append(
            CustomerBillingStatus(
                customer_id=customer.id,
                customer=customer.name,
                stripe_customer_id=customer.stripe_customer_id,
                prepaid=customer.prepaid,
                credit_balance_micros=balances.get(customer.id, 0),
                last_synced_at=box.last_sent_at,
                synced_through=box.synced_through,
                pending_micros=box.pending + unplanned,
                expired_micros=box.expired,
                last_reconciled_at=check.checked_at if check else None,
                reconciled_from=check.period_start if check else None,
                reconciled_to=check.period_end if check else None,
                reconciliation_differences=check.differences if check else None,
            )
        )
    return statuses


async def _outbox(session: AsyncSession, since: dt.datetime) -> dict[int, _Outbox]:
    row = MeterEventRow
    recent = func.sum(row.value_micros).filter(row.hour >= since)
    query = select(
        row.customer_id,
        row.status,
        func.max(row.sent_at),
        func.max(row.hour),
        func.sum(row.value_micros),
        func.coalesce(recent, 0),
    ).group_by(row.customer_id, row.status)
    found: dict[int, _Outbox] = {}
    for customer_id, status, sent_at, hour, total, in_window in await session.execute(query):
        box = found.setdefault(customer_id, _Outbox())
        box.recent += int(in_window)
        if status == "sent":
            box.last_sent_at, box.synced_through = sent_at, hour
        elif status == "pending":
            box.pending += int(total)
        else:
            box.expired += int(total)
    return found


async def _recent_usage(session: AsyncSession, since: dt.datetime) -> dict[int, int]:
    query = (
        select(UsageRollup.customer_id, func.sum(UsageRollup.cost_micros))
        .where(UsageRollup.hour >= since)
        .group_by(UsageRollup.customer_id)
    )
    return {customer_id: int(total) for customer_id, total in await session.execute(query)}


async def _latest_reconciliations(session: AsyncSession) -> dict[int, BillingReconciliation]:
    newest = (
        select(func.max(BillingReconciliation.id).label("id")).group_by(BillingReconciliation.customer_id).subquery()
    )
    query = select(BillingReconciliation).join(newest, newest.c.id == BillingReconciliation.id)
    return {check.customer_id: check for check in (await session.execute(query)).scalars()}
