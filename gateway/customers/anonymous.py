"""The customer that requests without a key are served as, when the config names one (the demo)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.db.models import ApiKey
from gateway.keys import repository as api_keys
from gateway.keys.principal import Principal
from gateway.keys.repository import KeyOwner
from gateway.keys.store import principal_of

ANONYMOUS_KEY_NAME = "anonymous"


async def anonymous_principal(sessions: async_sessionmaker[AsyncSession], customer_name: str) -> Principal:
    """The customer's key named ``anonymous``, created on first use; its secret is never shown."""
    async with sessions() as session, session.begin():
        customer = await customers.get_or_create(session, customer_name)
        key = await session.scalar(
            select(ApiKey).where(ApiKey.customer_id == customer.id, ApiKey.name == ANONYMOUS_KEY_NAME)
        )
        if key is None:
            issued = await api_keys.create(session, customer, name=ANONYMOUS_KEY_NAME)
            key = await session.get(ApiKey, issued.info.id)
        assert key is not None
        return principal_of(KeyOwner(key, customer))
