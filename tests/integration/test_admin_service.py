"""The admin service's contract with the auth caches: a revoked key is announced after the commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.keys import hash_key
from gateway.db.repositories import api_keys
from gateway.protocol.admin import KeyCreate
from gateway.services.admin import AdminService

Sessions = async_sessionmaker[AsyncSession]


async def test_a_revoked_key_is_announced_once_the_revocation_is_committed(sessions: Sessions) -> None:
    announced: list[tuple[str, bool]] = []

    async def key_revoked(key_hash: str) -> None:
        async with sessions() as session:  # another connection: sees only what is committed
            owner = await api_keys.find_by_hash(session, key_hash)
        announced.append((key_hash, owner is not None and owner.key.revoked_at is not None))

    service = AdminService(sessions, key_revoked=key_revoked)
    created = await service.create_key(KeyCreate(customer="acme"), create_customer=True)
    revoked = await service.revoke_key(str(created.id))

    assert announced == [(hash_key(created.key), True)]
    assert revoked.revoked_at is not None and revoked.customer == "acme"


async def test_a_failing_announcement_does_not_undo_the_revocation(sessions: Sessions) -> None:
    async def key_revoked(key_hash: str) -> None:
        raise ConnectionError("redis is down")

    service = AdminService(sessions, key_revoked=key_revoked)
    created = await service.create_key(KeyCreate(customer="acme"), create_customer=True)
    revoked = await service.revoke_key(created.prefix)

    async with sessions() as session:
        owner = await api_keys.find_by_hash(session, hash_key(created.key))
    assert revoked.revoked_at is not None
    assert owner is not None and owner.key.revoked_at == revoked.revoked_at
