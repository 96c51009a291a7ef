"""The auth cache's view of the database: keys as principals, and which keys changed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import ApiKey, Customer
from gateway.keys import repository as api_keys
from gateway.keys.principal import Principal
from gateway.keys.repository import KeyOwner


def principal_of(owner: KeyOwner) -> Principal:
    key, customer = owner.key, owner.customer
    return Principal(
        key_id=key.id,
        key_hash=key.key_hash,
        customer_id=customer.id,
        customer_name=customer.name,
        allowed_models=None if key.allowed_models is None else frozenset(key.allowed_models),
        expires_at=key.expires_at,
        revoked=key.revoked_at is not None,
        markup_percent=customer.markup_percent,
        rpm=key.rpm,
        tpm=key.tpm,
        max_concurrency=key.max_concurrency,
        budget_micros=key.budget_micros,
        budget_period=key.budget_period,
        budget_warning_percent=key.budget_warning_percent,
        customer_rpm=customer.rpm,
        customer_tpm=customer.tpm,
        customer_max_concurrency=customer.max_concurrency,
        customer_budget_micros=customer.budget_micros,
        customer_budget_period=customer.budget_period,
        customer_budget_warning_percent=customer.budget_warning_percent,
        prepaid=customer.prepaid,
        credit_grace_micros=customer.credit_grace_micros,
        cache_ttl_seconds=key.cache_ttl_seconds,
        cache_nondeterministic=key.cache_nondeterministic,
        priority=key.priority,
        region=key.region,
    )


class KeyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, key_hash: str) -> Principal | None:
        async with self._sessions() as session:
            owner = await api_keys.find_by_hash(session, key_hash)
        return None if owner is None else principal_of(owner)

    async def changed_since(self, since: dt.datetime) -> dict[str, dt.datetime]:
        """The keys changed since then, and every key of a customer changed since then: each key's hash
        and the time of its latest change."""
        keys = select(ApiKey.key_hash, ApiKey.updated_at).where(ApiKey.updated_at > since)
        of_customers = (
            select(ApiKey.key_hash, Customer.updated_at)
            .join(Customer, Customer.id == ApiKey.customer_id)
            .where(Customer.updated_at > since)
        )
        async with self._sessions() as session:
            rows = (await session.execute(union(keys, of_customers))).all()
        latest: dict[str, dt.datetime] = {}
        for key_hash, changed_at in rows:
            latest[key_hash] = max(changed_at, latest.get(key_hash, changed_at))
        return latest
