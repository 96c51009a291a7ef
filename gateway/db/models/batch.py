"""Batches of ``/v1/batches`` and their lines: the work of the throughput lane, shared by every replica.

A line is claimed by one worker at a time (``worker``, ``lease_until``), and its result is written
with the batch's counters in one transaction, so each line counts once whoever ran it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (
        Index("ix_batches_customer_time", "customer_id", "created_at"),
        Index("ix_batches_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    # The key that created the batch: its lines run as that key (allow-list, limits, budget).
    api_key_id: Mapped[int] = mapped_column(Integer)
    endpoint: Mapped[str] = mapped_column(String(64))
    input_file_id: Mapped[str] = mapped_column(String(64))
    completion_window: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    batch_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    output_file_id: Mapped[str | None] = mapped_column(String(64), default=None)
    error_file_id: Mapped[str | None] = mapped_column(String(64), default=None)
    total: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    in_progress_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    finalizing_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    expired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    cancelling_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


class BatchLine(Base):
    __tablename__ = "batch_lines"
    # A batch's pending (or running) lines in order, found without reading those already done.
    __table_args__ = (Index("ix_batch_lines_state", "batch_id", "state", "line"),)

    batch_id: Mapped[str] = mapped_column(String(64), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based, as OpenAI's errors count
    custom_id: Mapped[str] = mapped_column(String(512))
    model: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # the request body, JSON, as the file gave it
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, running, done
    worker: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    # Tries whose failure was metered: each one spends a usage request id (gateway/batches/lines.py).
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool | None] = mapped_column(default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)  # its output-file line, JSON
