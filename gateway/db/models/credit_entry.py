"""The credit ledger: top-ups add to a customer's prepaid balance, usage debits take from it.

Entries are only ever appended; the balance is their sum. ``reference`` is unique, so every writer
(the admin API, the CLI, Stripe webhooks, the usage drain) can retry without counting twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow

# topup: admin API or CLI; stripe: a paid checkout; usage: the drain's debit; adjustment: either sign.
CREDIT_KINDS = ("topup", "stripe", "usage", "adjustment")


class CreditEntry(Base):
    __tablename__ = "credit_entries"

    # One usage debit per customer per drained batch adds up quickly: 64 bits (a plain rowid on SQLite).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    amount_micros: Mapped[int] = mapped_column(BigInteger)  # positive credits, negative debits
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
