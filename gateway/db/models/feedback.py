"""Accuracy feedback: a customer's score of one answer it got, kept with the deployment that answered."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_model_time", "model", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(String(200), index=True)  # as the customer named the answer
    customer_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    score: Mapped[float] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
