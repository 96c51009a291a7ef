"""Billing through Stripe: the meter events owed to Stripe, the webhooks received, the reconciliations.

``billing_meter_events`` is an outbox. Usage is first written here, per customer and hour, with the
identifier and value it will carry; only then is it sent, and marked sent after Stripe accepted it.
Whatever happens in between, the row is sent again with the same identifier and value, and Stripe
drops the copy: the sync's cursor is this table (what is planned, what is sent), never a timestamp.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow

# pending: planned, not yet accepted by Stripe; sent: accepted; expired: its hour became older than
# Stripe accepts (35 days) before it could be sent, so it was never sent (reconciliation lists it).
METER_EVENT_STATUSES = ("pending", "sent", "expired")


class MeterEventRow(Base):
    __tablename__ = "billing_meter_events"
    __table_args__ = (
        Index("ix_billing_meter_events_customer_hour", "customer_id", "hour"),
        Index("ix_billing_meter_events_status", "status"),
    )

    # ``<prefix>-<customer id>-<hour>-<n>``: the n-th amount planned for that customer and hour.
    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    stripe_customer_id: Mapped[str] = mapped_column(String(100))
    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # the event's timestamp: the hour it sums
    value_micros: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    planned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


class StripeWebhookEvent(Base):
    """Every Stripe event handled, once: a redelivery finds its id here and changes nothing."""

    __tablename__ = "stripe_webhook_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # when Stripe created the event
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    checkout_session: Mapped[str | None] = mapped_column(String(100), default=None)
    outcome: Mapped[str] = mapped_column(String(200))


class BillingReconciliation(Base):
    """One comparison of a customer's usage with what Stripe has received, for a period of hours."""

    __tablename__ = "billing_reconciliations"
    __table_args__ = (Index("ix_billing_reconciliations_customer_checked", "customer_id", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    period_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    tollgate_micros: Mapped[int] = mapped_column(BigInteger)
    stripe_micros: Mapped[int] = mapped_column(BigInteger)
    differences: Mapped[int] = mapped_column(Integer)
    # Every differing hour: {"hour", "tollgate_micros", "sent_micros", "stripe_micros", "kind"}.
    details: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
