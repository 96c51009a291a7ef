"""Purging the response cache from the admin API (``POST /admin/cache/purge``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.wire import CachePurge, CachePurged
from gateway.cache.service import ResponseCache
from gateway.core.errors import InvalidRequest
from gateway.customers import repository as customers


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    cache: ResponseCache | None,
    known_models: Collection[str],
    body: CachePurge,
) -> CachePurged:
    """Entries in Redis are gone for every replica at once; semantic index rows that pointed at them
    are dropped by each replica when a lookup next finds them."""
    customer_id = None
    if body.customer is not None:
        async with sessions.begin() as session:
            customer_id = (await customers.require(session, body.customer)).id
    if body.model is not None and body.model not in known_models:
        raise InvalidRequest(
            f"{body.model!r} is not a model this gateway serves.", param="model", code="model_not_found"
        )
    purged = await cache.purge(customer_id, body.model) if cache is not None else 0
    return CachePurged(customer=body.customer, model=body.model, purged=purged)
