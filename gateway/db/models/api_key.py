"""API keys. Only a hash of the key is stored; the key itself is shown once, at creation."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow
from gateway.db.models.limits import Limits


class ApiKey(Limits, Base):
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
    # Routing: the tier of the key's requests in a saturated pool's queue (lower first, as vLLM's
    # ``priority``), and the region they prefer when they name none.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    region: Mapped[str | None] = mapped_column(String(32), default=None)
    # Replicas poll for keys changed since their last look, so revocations spread without Redis too.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, index=True)
    # Response cache terms of this key (docs/cache.md): how long its answers are kept (None: the
    # model's TTL), and whether its sampled requests (temperature > 0, no seed) are cached too.
    cache_ttl_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    cache_nondeterministic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
