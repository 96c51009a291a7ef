"""Customers: who is billed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Applied to the price book for this customer: +10 is a 10 % markup, -5 a 5 % discount.
    markup_percent: Mapped[Decimal] = mapped_column(Numeric(7, 3), default=Decimal(0))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
