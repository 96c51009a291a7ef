"""Files of ``/v1/files``: batch inputs and outputs, kept in the database so every replica reads them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime, utcnow


class StoredFile(Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_customer_time", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    filename: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    # Deferred: listing and retrieving a file's description never reads its bytes.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
