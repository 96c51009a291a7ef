"""What the billing page needs to know about each customer's Stripe sync, from whoever keeps it.

The billing package provides the source: an async function of a database session returning one
status per customer that has ever been synced. Customers it does not list show "never synced".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class CustomerBillingStatus(Protocol):
    @property
    def customer_id(self) -> int: ...

    @property
    def last_sync_at(self) -> dt.datetime | None:
        """When usage was last sent to Stripe for this customer."""

    @property
    def reconciled_at(self) -> dt.datetime | None:
        """When the last reconciliation of this customer ran (None: never)."""

    @property
    def differences(self) -> int:
        """How many differences between Tollgate's totals and Stripe's the last reconciliation listed."""


BillingStatusSource = Callable[[AsyncSession], Awaitable[Sequence[CustomerBillingStatus]]]


def sync_cell(status: CustomerBillingStatus | None) -> str:
    if status is None or status.last_sync_at is None:
        return "never synced"
    return status.last_sync_at.strftime("%Y-%m-%d %H:%M UTC")


def reconciliation_cell(status: CustomerBillingStatus | None) -> str:
    if status is None or status.reconciled_at is None:
        return "not reconciled"
    when = status.reconciled_at.strftime("%Y-%m-%d %H:%M UTC")
    if status.differences == 0:
        return f"matches Stripe ({when})"
    return f"{status.differences} difference{'s' if status.differences != 1 else ''} ({when})"
