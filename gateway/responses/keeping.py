"""Keeping a finished response for its customer (``store: true``), or not (``store: false``).

A response that could not be stored (the database failed) was generated and metered all the same: it
is delivered, with ``store: false`` saying that it cannot be retrieved or chained, rather than an error
the customer paid for. Plain and streamed, translated and passed through alike.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.base import JSON
from gateway.db.models import StoredResponse
from gateway.db.models.base import utcnow
from gateway.keys.principal import Principal
from gateway.protocol.responses import ResponseRequest
from gateway.responses import repository

log = logging.getLogger("tollgate.errors")

# The finished response in, the response as delivered out.
Keep = Callable[[JSON], Awaitable[JSON]]


@dataclass(frozen=True, slots=True)
class Keeper:
    """Stores a finished response (with what it was generated from) for its customer."""

    sessions: async_sessionmaker[AsyncSession]
    principal: Principal
    request: ResponseRequest
    context: list[JSON]
    items: list[JSON]

    async def __call__(self, final: JSON) -> JSON:
        row = StoredResponse(
            id=final["id"],
            customer_id=self.principal.customer_id,
            api_key_id=self.principal.key_id,
            created_at=utcnow(),
            model=final["model"],
            previous_response_id=self.request.previous_response_id,
            context=self.context,
            input_items=self.items,
            body=storable(final),
        )
        try:
            async with self.sessions.begin() as session:
                repository.add(session, row)
        except Exception:
            log.exception("response %s could not be stored; delivered with store: false", final["id"])
            return {**final, "store": False}
        return final


async def forget(final: JSON) -> JSON:
    """``store: false``: nothing is kept."""
    return final


def storable(body: JSON) -> JSON:
    """The body as the JSON column takes it: the exact ``cost`` as a string (``shown`` turns it back)."""
    usage = body.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("cost"), Decimal):
        return {**body, "usage": {**usage, "cost": str(usage["cost"])}}
    return body


def shown(body: JSON) -> JSON:
    usage = body.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("cost"), str):
        return {**body, "usage": {**usage, "cost": Decimal(usage["cost"])}}
    return body
