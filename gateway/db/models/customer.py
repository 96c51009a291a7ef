"""Customers: who is billed, their limits, and whether they pay ahead (prepaid credits)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Integer, Numeric, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow
from gateway.db.models.limits import Limits


class Customer(Limits, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Applied to the price book for this customer: +10 is a 10 % markup, -5 a 5 % discount.
    markup_percent: Mapped[Decimal] = mapped_column(Numeric(7, 3), default=Decimal(0))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Replicas poll for customers changed since their last look, and drop the cached keys of each.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, index=True)
    # Prepaid customers are refused once their credit balance (see CreditEntry) is spent, less the grace.
    prepaid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # How far below zero a prepaid balance may go: requests already admitted may finish their spend.
    credit_grace_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
