"""Staged rollouts: one verdict per model shared by every gateway, the outcomes it is judged on, and
the audit trail of its transitions (gateway/routing/rollouts.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models.base import Base, UtcDateTime


class RolloutState(Base):
    """Where a model's rollout stands. ``version`` rises with every transition: a gateway moves the
    rollout only with an update conditional on the version it read, so exactly one transition wins."""

    __tablename__ = "rollout_states"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    config: Mapped[str] = mapped_column(Text)  # the rollout config judged, as JSON: a new one starts afresh
    candidate: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # active, promoted, rolled_back
    stage: Mapped[int] = mapped_column(Integer, default=0)  # index into the config's stages
    share: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # accuracy is compared since then
    stage_started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # After a promotion: until when the previous (stable) deployments may be restored in one step.
    previous_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class RolloutTally(Base):
    """The outcomes of one side (``candidate`` or ``stable``) of a rollout during one version of its
    state: ``bucket`` -1 counts failures, 0.. successes by latency bucket (gateway/routing/tallies.py)."""

    __tablename__ = "rollout_tallies"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class RolloutEvent(Base):
    """One transition of a rollout, as it happened: the audit trail the dashboard shows."""

    __tablename__ = "rollout_events"
    __table_args__ = (Index("ix_rollout_events_model_time", "model", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    candidate: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # started, advanced, promoted, rolled_back, restored
    from_share: Mapped[float | None] = mapped_column(Float)
    to_share: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))  # judge, admin api, cli, dashboard, config
    reason: Mapped[str | None] = mapped_column(Text)
