"""``POST /v1/feedback``: a customer's accuracy score (0-1) of an answer it got."""

from __future__ import annotations

import msgspec
from litestar import Response, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.edge.errors import HttpRequest, request_id_of
from gateway.feedback.repository import FeedbackRepository
from gateway.feedback.service import FeedbackService
from gateway.feedback.wire import FeedbackIn
from gateway.keys.principal import Principal
from gateway.metrics import Metrics
from gateway.protocol.decoding import decode_object, validate

Sessions = async_sessionmaker[AsyncSession]

_encode = msgspec.json.Encoder().encode


@post("/v1/feedback", status_code=200, opt={"body": FeedbackIn})
async def give_feedback(
    request: HttpRequest,
    key_principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
    metrics: NamedDependency[Metrics],
) -> Response[bytes]:
    """A key is required even where anonymous requests are served (``key_principal``): feedback is of a
    customer's own answers."""
    given = validate(decode_object(await request.body()), FeedbackIn)
    out = await FeedbackService(FeedbackRepository(sessions), metrics).submit(key_principal, given)
    return Response(_encode(out), media_type="application/json", headers={"x-request-id": request_id_of(request)})


ROUTES = [give_feedback]
