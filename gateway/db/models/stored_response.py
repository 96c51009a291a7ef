"""Stored Responses (``/v1/responses`` with ``store: true``): one row per response, per customer.

A row holds everything a later request needs without reading any other row: ``context`` is the
conversation that ``previous_response_id`` carried into this turn, ``input_items`` this turn's own
input (what ``/input_items`` lists), ``body`` the response object as it was answered (its ``output``
included). Chaining from a row therefore survives the deletion of the rows before it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow


class StoredResponse(Base):
    __tablename__ = "stored_responses"
    __table_args__ = (Index("ix_stored_responses_customer_time", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    api_key_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    model: Mapped[str] = mapped_column(String(200))
    previous_response_id: Mapped[str | None] = mapped_column(String(64), default=None)
    context: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    input_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
