"""What the billing page needs to know about each customer's Stripe sync, from whoever keeps it.

The billing package provides the source (``billing.status.billing_status``): an async function of a
database session returning one status per customer. Customers it does not list show "never synced".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.metering.pricing import format_usd


class CustomerBillingStatus(Protocol):
    """The fields of ``billing.status.CustomerBillingStatus`` that the page shows."""

    @property
    def customer_id(self) -> int: ...

    @property
    def last_synced_at(self) -> dt.datetime | None:
        """When Stripe last accepted usage of this customer."""

    @property
    def pending_micros(self) -> int:
        """Usage that Stripe has not accepted yet."""

    @property
    def last_reconciled_at(self) -> dt.datetime | None:
        """When this customer's totals were last reconciled with Stripe's (None: never)."""

    @property
    def reconciliation_differences(self) -> int | None:
        """How many differences that reconciliation listed."""


BillingStatusSource = Callable[[AsyncSession], Awaitable[Sequence[CustomerBillingStatus]]]


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def sync_cell(status: CustomerBillingStatus | None) -> str:
    if status is None or status.last_synced_at is None:
        return "never synced"
    pending = f", {format_usd(status.pending_micros)} USD pending" if status.pending_micros else ""
    return f"{_when(status.last_synced_at)}{pending}"


def reconciliation_cell(status: CustomerBillingStatus | None) -> str:
    if status is None or status.last_reconciled_at is None or status.reconciliation_differences is None:
        return "not reconciled"
    differences = status.reconciliation_differences
    if differences == 0:
        return f"matches Stripe ({_when(status.last_reconciled_at)})"
    plural = "s" if differences != 1 else ""
    return f"{differences} difference{plural} ({_when(status.last_reconciled_at)})"
