"""Taking a customer's score of an answer: only of an answer the customer got, kept with its deployment."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from gateway.core.errors import NotFound
from gateway.db.models import Feedback
from gateway.feedback.repository import FeedbackRepository
from gateway.feedback.wire import FeedbackIn, FeedbackOut
from gateway.keys.principal import Principal
from gateway.metrics import Metrics

# How long an id not (yet) known is looked for again before it is a 404: an answer is known once its
# usage event is stored, which the journal drain (every 0.2 s, on whichever gateway answered) does
# within about a second, and a client may send its score as soon as it has read the answer.
_DRAIN_WAIT = 3.0
_FIRST_LOOK_AGAIN = 0.1  # then twice as long each time: an id never given costs a few queries, not 30


class FeedbackService:
    def __init__(self, repository: FeedbackRepository, metrics: Metrics) -> None:
        self._repository = repository
        self._metrics = metrics

    async def submit(self, principal: Principal, given: FeedbackIn) -> FeedbackOut:
        """Store the score with the model and deployment that answered. An answer the customer did not
        get is a 404 whether it is another customer's or none at all: ids of others are never confirmed.
        An answer not stored yet (its usage event still in a journal) is waited for, a few seconds at most."""
        deadline, pause = time.monotonic() + _DRAIN_WAIT, _FIRST_LOOK_AGAIN
        answer = await self._repository.answer(given.response_id, principal.customer_id)
        while answer is None and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(pause, left))
            pause *= 2
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
