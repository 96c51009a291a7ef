"""Feedback rows, the answers they score (``usage_events``), and scores summed for rollouts and charts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import Feedback, UsageEvent


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer a customer got: its model and the deployment (version) that produced it."""

    model: str
    deployment: str | None


@dataclass(frozen=True, slots=True)
class ScoreSum:
    count: int
    total: float

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class FeedbackRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def answer(self, response_id: str, customer_id: int) -> Answer | None:
        """The answer ``response_id`` (its ``x-request-id``, or the id in its body) if this customer got
        it; another customer's is None, as an unknown one is."""
        query = (
            select(UsageEvent.model, UsageEvent.deployment)
            .where(
                UsageEvent.customer_id == customer_id,
                or_(UsageEvent.request_id == response_id, UsageEvent.answer_id == response_id),
            )
            .order_by(UsageEvent.created_at.desc())  # an upstream may reuse its ids: the latest answer
            .limit(1)
        )
        async with self._sessions() as session:
            found = (await session.execute(query)).first()
        return None if found is None else Answer(found.model, found.deployment)

    async def add(self, row: Feedback) -> Feedback:
        async with self._sessions.begin() as session:
            session.add(row)
        return row

    async def by_deployment(self, model: str, since: dt.datetime) -> dict[str | None, ScoreSum]:
        """The scores of ``model``'s answers given since ``since``, per deployment."""
        query = (
            select(Feedback.deployment, func.count(), func.sum(Feedback.score))
            .where(Feedback.model == model, Feedback.created_at >= since)
            .group_by(Feedback.deployment)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {deployment: ScoreSum(int(count), float(total or 0)) for deployment, count, total in rows}

    async def scores(self, model: str, since: dt.datetime) -> list[tuple[dt.datetime, str | None, float]]:
        """Every score of ``model`` since ``since``: when, the deployment, the score (for hourly charts)."""
        query = (
            select(Feedback.created_at, Feedback.deployment, Feedback.score)
            .where(Feedback.model == model, Feedback.created_at >= since)
            .order_by(Feedback.created_at)
        )
        async with self._sessions() as session:
            return [(at, deployment, score) for at, deployment, score in await session.execute(query)]
