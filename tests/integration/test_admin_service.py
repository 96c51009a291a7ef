"""The admin services' contract with the caches: a revoked key, the keys of a changed customer and a
top-up are announced after the commit."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.credits import CreditService
from gateway.admin.service import AdminService
from gateway.admin.wire import CreditTopUp, CustomerCreate, CustomerUpdate, KeyCreate
from gateway.keys import repository as api_keys
from gateway.keys.material import hash_key

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


async def test_changing_a_customer_announces_each_of_its_keys_after_the_commit(sessions: Sessions) -> None:
    announced: list[tuple[str, int | None]] = []

    async def key_changed(key_hash: str) -> None:
        async with sessions() as session:  # another connection: sees only what is committed
            owner = await api_keys.find_by_hash(session, key_hash)
        announced.append((key_hash, None if owner is None else owner.customer.rpm))

    service = AdminService(sessions, key_revoked=key_changed)
    keys = [await service.create_key(KeyCreate(customer="acme"), create_customer=True) for _ in range(2)]
    await service.create_key(KeyCreate(customer="beta"), create_customer=True)
    updated = await service.update_customer("acme", CustomerUpdate(rpm=30, prepaid=True))

    assert sorted(announced) == sorted((hash_key(key.key), 30) for key in keys)
    assert (updated.rpm, updated.prepaid) == (30, True)


async def test_a_top_up_is_announced_once_even_when_repeated(sessions: Sessions) -> None:
    added: list[tuple[int, int, int]] = []

    async def credits_added(customer_id: int, entry_id: int, micros: int) -> None:
        added.append((customer_id, entry_id, micros))

    service = CreditService(sessions, credits_added=credits_added)
    customer = await AdminService(sessions).create_customer(CustomerCreate(name="acme", prepaid=True))
    body = CreditTopUp(usd=Decimal("12.5"), reference="once")
    first, again = await service.top_up("acme", body), await service.top_up("acme", body)

    assert added == [(customer.id, first.entry.id, 12_500_000)]
    assert (first.replayed, again.replayed, again.entry.id) == (False, True, first.entry.id)
    assert again.balance_usd == "12.500000"
