"""How the billing page words each customer's Stripe sync and reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.dashboard.billing_status import reconciliation_cell, sync_cell

AT = dt.datetime(2026, 3, 1, 12, 5, tzinfo=dt.UTC)


@dataclass
class Status:  # the fields of billing.status.CustomerBillingStatus the page reads
    customer_id: int = 1
    last_synced_at: dt.datetime | None = None
    pending_micros: int = 0
    last_reconciled_at: dt.datetime | None = None
    reconciliation_differences: int | None = None


def test_a_customer_never_synced_nor_reconciled() -> None:
    assert sync_cell(None) == sync_cell(Status()) == "never synced"
    assert reconciliation_cell(None) == reconciliation_cell(Status()) == "not reconciled"


def test_a_synced_customer_with_usage_still_to_send() -> None:
    assert sync_cell(Status(last_synced_at=AT)) == "2026-03-01 12:05 UTC"
    assert sync_cell(Status(last_synced_at=AT, pending_micros=1_500)) == "2026-03-01 12:05 UTC, 0.001500 USD pending"


def test_a_reconciliation_that_matched_and_one_that_found_differences() -> None:
    assert reconciliation_cell(Status(last_reconciled_at=AT, reconciliation_differences=0)) == (
        "matches Stripe (2026-03-01 12:05 UTC)"
    )
    assert reconciliation_cell(Status(last_reconciled_at=AT, reconciliation_differences=2)) == (
        "2 differences (2026-03-01 12:05 UTC)"
    )
