"""Taking a customer's score of an answer: only of an answer the customer got, kept with its deployment."""

from __future__ import annotations

import datetime as dt

from gateway.core.errors import NotFound
from gateway.db.models import Feedback
from gateway.feedback.repository import FeedbackRepository
from gateway.feedback.wire import FeedbackIn, FeedbackOut
from gateway.keys.principal import Principal
from gateway.metrics import Metrics


class FeedbackService:
    def __init__(self, repository: FeedbackRepository, metrics: Metrics) -> None:
        self._repository = repository
        self._metrics = metrics

    async def submit(self, principal: Principal, given: FeedbackIn) -> FeedbackOut:
        """Store the score with the model and deployment that answered. An answer the customer did not
        get is a 404 whether it is another customer's or none at all: ids of others are never confirmed.
        Answers are known once their usage event is stored (the journal drains within about a second)."""
        answer = await self._repository.answer(given.response_id, principal.customer_id)
        if answer is None:
            raise NotFound(
                f"No answer with id '{given.response_id}' was given to you.",
                param="response_id",
                code="response_not_found",
            )
        row = await self._repository.add(
            Feedback(
                response_id=given.response_id,
                customer_id=principal.customer_id,
                model=answer.model,
                deployment=answer.deployment,
                created_at=dt.datetime.now(dt.UTC),
                score=given.score,
                label=given.label,
                comment=given.comment,
            )
        )
        self._metrics.feedback_score.labels(answer.model, answer.deployment or "").observe(given.score)
        return FeedbackOut(
            id=row.id,
            response_id=row.response_id,
            model=row.model,
            score=row.score,
            label=row.label,
            comment=row.comment,
            created_at=int(row.created_at.timestamp()),
        )
