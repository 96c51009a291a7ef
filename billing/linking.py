"""Each Tollgate customer maps to one Stripe customer, made on first need and kept in ``customers``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import Customer

if TYPE_CHECKING:
    from billing.stripe_api import StripeApi


async def link(sessions: async_sessionmaker[AsyncSession], api: StripeApi, customer_id: int, name: str) -> str:
    """The customer's Stripe id, made now if it has none. Made under an idempotency key of the
    customer's id: a crash before the commit, retried within 24 hours, gets the same Stripe customer."""
    stripe_id = await api.create_customer(customer_id, name)
    async with sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.stripe_customer_id.is_(None))
            .values(stripe_customer_id=stripe_id)
        )
        linked = await session.scalar(select(Customer.stripe_customer_id).where(Customer.id == customer_id))
    return linked or stripe_id


async def link_all(sessions: async_sessionmaker[AsyncSession], api: StripeApi) -> int:
    """Link every customer that has no Stripe customer yet; returns how many."""
    async with sessions() as session:
        query = select(Customer.id, Customer.name).where(Customer.stripe_customer_id.is_(None))
        unlinked = list(await session.execute(query))
    for customer_id, name in unlinked:
        await link(sessions, api, customer_id, name)
    return len(unlinked)
