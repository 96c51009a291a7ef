"""Wire models of billing: Checkout top-ups, Stripe's webhook answer, billing status, reconciliation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec

from gateway.admin.wire import ListOf, Name, Request

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"^https?://")]


class CheckoutCreate(Request):
    usd: Decimal  # whole cents, from $0.50
    success_url: Url | None = None  # default: the config's stripe.checkout_success_url
    cancel_url: Url | None = None
    # An idempotency key: repeated within 24 hours, the same Checkout Session is answered.
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class CheckoutOut(msgspec.Struct, kw_only=True):
    customer: str
    id: str  # the Checkout Session
    url: str  # where the customer pays
    usd: str
    expires_at: dt.datetime
    object: str = "checkout_session"


class WebhookReceived(msgspec.Struct, kw_only=True):
    received: bool = True
    event: str
    type: str
    duplicate: bool
    outcome: str


class ReconcileQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    customer: Name
    start: str = msgspec.field(name="from")  # ISO 8601, inclusive (widened to the hour)
    end: str = msgspec.field(name="to")  # exclusive


class BillingStatusOut(msgspec.Struct, kw_only=True):
    customer: str
    stripe_customer_id: str | None
    prepaid: bool
    credit_balance_usd: str
    last_synced_at: dt.datetime | None
    synced_through: dt.datetime | None
    pending_usd: str
    expired_usd: str
    last_reconciled_at: dt.datetime | None
    reconciliation_differences: int | None
    object: str = "billing_status"


class HourDifferenceOut(msgspec.Struct, kw_only=True):
    hour: dt.datetime
    kind: str
    tollgate_micros: int
    sent_micros: int
    stripe_micros: int


class ReconciliationOut(msgspec.Struct, kw_only=True):
    customer: str
    stripe_customer_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    tollgate_micros: int
    stripe_micros: int
    differences: list[HourDifferenceOut]
    object: str = "reconciliation"


BillingStatusList = ListOf[BillingStatusOut]
