"""Billing for the admin API and the CLI: requests in dollars, answers in the wire models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.checkout import create_checkout
from billing.reconcile import Reconciliation, reconcile
from billing.status import billing_status
from gateway.billing_api.wire import (
    BillingStatusList,
    BillingStatusOut,
    CheckoutCreate,
    CheckoutOut,
    HourDifferenceOut,
    ReconcileQuery,
    ReconciliationOut,
)
from gateway.core.errors import InvalidRequest, PermissionDenied
from gateway.core.instants import instant_param
from gateway.metering.pricing import format_usd

if TYPE_CHECKING:
    from billing.job import BillingJob

MICROS_PER_CENT = 10_000


def not_configured() -> PermissionDenied:
    return PermissionDenied(
        "Billing through Stripe is off: add a `stripe` block (with api_key) to the config.",
        code="stripe_not_configured",
    )


def require_billing(job: BillingJob | None) -> BillingJob:
    if job is None:
        raise not_configured()
    return job


def usd_cents(usd: Decimal) -> int:
    cents = usd * 100
    if not cents.is_finite() or cents != cents.to_integral_value():
        raise InvalidRequest(f"usd must be a whole number of cents, not {usd}.", param="usd")
    return int(cents)


async def checkout(job: BillingJob, name: str, body: CheckoutCreate) -> CheckoutOut:
    made = await create_checkout(
        job.sessions,
        job.api,
        name,
        usd_cents(body.usd),
        success_url=body.success_url,
        cancel_url=body.cancel_url,
        reference=body.reference,
    )
    return CheckoutOut(
        customer=made.customer,
        id=made.checkout_session,
        url=made.url,
        usd=format_usd(made.cents * MICROS_PER_CENT),
        expires_at=made.expires_at,
    )


async def status(sessions: async_sessionmaker[AsyncSession]) -> BillingStatusList:
    async with sessions() as session:
        found = await billing_status(session)
    return BillingStatusList(
        [
            BillingStatusOut(
                customer=s.customer,
                stripe_customer_id=s.stripe_customer_id,
                prepaid=s.prepaid,
                credit_balance_usd=format_usd(s.credit_balance_micros),
                last_synced_at=s.last_synced_at,
                synced_through=s.synced_through,
                pending_usd=format_usd(s.pending_micros),
                expired_usd=format_usd(s.expired_micros),
                last_reconciled_at=s.last_reconciled_at,
                reconciliation_differences=s.reconciliation_differences,
            )
            for s in found
        ]
    )


async def reconciliation(job: BillingJob, query: ReconcileQuery) -> ReconciliationOut:
    start, end = _period(query.start, query.end)
    return reconciliation_out(await reconcile(job.sessions, job.api, query.customer, start, end))


def _period(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    first, last = instant_param(start, "from"), instant_param(end, "to")
    if first is None or last is None:  # both are required fields: msgspec has refused a missing one
        raise InvalidRequest("A reconciliation needs both 'from' and 'to'.", param="from")
    return first, last


def reconciliation_out(result: Reconciliation) -> ReconciliationOut:
    return ReconciliationOut(
        customer=result.customer,
        stripe_customer_id=result.stripe_customer_id,
        period_start=result.period_start,
        period_end=result.period_end,
        tollgate_micros=result.tollgate_micros,
        stripe_micros=result.stripe_micros,
        differences=[
            HourDifferenceOut(
                hour=d.hour,
                kind=d.kind,
                tollgate_micros=d.tollgate_micros,
                sent_micros=d.sent_micros,
                stripe_micros=d.stripe_micros,
            )
            for d in result.differences
        ],
    )
