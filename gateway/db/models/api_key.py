"""API keys. Only a hash of the key is stored; the key itself is shown once, at creation."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow
from gateway.db.models.customer import DEFAULT_WARNING_PERCENT


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Replicas poll for keys changed since their last look, so revocations spread without Redis too.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, index=True)
    # Limits, enforced by admission control; None means unlimited.
    rpm: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm: Mapped[int | None] = mapped_column(Integer, default=None)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, default=None)
    budget_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    budget_period: Mapped[str | None] = mapped_column(String(8), default=None)
    # The share of the budget spent at which a warning is given; the hard stop is at 100 %.
    budget_warning_percent: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_WARNING_PERCENT, server_default=text(str(DEFAULT_WARNING_PERCENT))
    )
