"""The credit ledger and the spend that budgets start from, on SQLite and Postgres."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import InvalidRequest
from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.customers.repository import CustomerTerms
from gateway.db.models import CreditEntry, Customer
from tests.support.usage_data import at, seed_usage

Sessions = async_sessionmaker[AsyncSession]


async def _customer(sessions: Sessions, name: str, prepaid: bool = True) -> Customer:
    async with sessions.begin() as session:
        return await customers.create(session, name, terms=CustomerTerms(prepaid=prepaid))


async def test_the_balance_is_the_sum_of_the_ledger_and_a_reference_counts_once(sessions: Sessions) -> None:
    acme = await _customer(sessions, "acme")
    async with sessions.begin() as session:
        first, _ = await credits.add(session, acme, 25_000_000, "topup", "topup:a", "first")
        await credits.add(session, acme, -1_250_000, "usage", "usage:r1")
    async with sessions.begin() as session:
        again, created = await credits.add(session, acme, 99_000_000, "topup", "topup:a", "other note")
        balance = await credits.balance(session, acme.id)
        count = await session.scalar(select(func.count()).select_from(CreditEntry))

    assert not created
    assert (again.id, again.amount_micros, again.note) == (first.id, 25_000_000, "first")
    assert balance == 23_750_000
    assert count == 2


async def test_balances_cover_every_customer_with_entries_and_entries_come_newest_first(sessions: Sessions) -> None:
    acme, beta, idle = [await _customer(sessions, name) for name in ("acme", "beta", "idle")]
    async with sessions.begin() as session:
        for i in range(3):
            await credits.add(session, acme, (i + 1) * 1_000_000, "topup", f"topup:acme-{i}")
        await credits.add(session, beta, 5, "adjustment", "adjustment:beta")
        await credits.add(session, beta, -7, "adjustment", "adjustment:beta-2")
    async with sessions.begin() as session:
        everyone = await credits.balances(session)
        only_beta = await credits.balances(session, [beta.id, idle.id])
        latest = await credits.entries(session, acme.id, limit=2)
        nothing = await credits.balance(session, idle.id)

    assert everyone == {acme.id: 6_000_000, beta.id: -2}
    assert only_beta == {beta.id: -2}
    assert [e.reference for e in latest] == ["topup:acme-2", "topup:acme-1"]
    assert nothing == 0


@pytest.mark.parametrize(
    ("amount", "kind"), [(0, "topup"), (-1, "topup"), (-1, "stripe"), (1, "usage"), (0, "adjustment"), (1, "gift")]
)
async def test_an_entry_of_the_wrong_sign_or_kind_is_refused(sessions: Sessions, amount: int, kind: str) -> None:
    acme = await _customer(sessions, "acme")
    with pytest.raises(InvalidRequest):
        async with sessions.begin() as session:
            await credits.add(session, acme, amount, kind, "x:1")
    async with sessions.begin() as session:
        assert await credits.entries(session, acme.id) == []


async def test_top_ups_since_a_moment_exclude_usage_and_match_the_balance_snapshot(sessions: Sessions) -> None:
    acme, beta = await _customer(sessions, "acme"), await _customer(sessions, "beta")
    async with sessions.begin() as session:
        old, _ = await credits.add(session, acme, 1_000_000, "topup", "topup:old")
        old.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    async with sessions.begin() as session:
        new, _ = await credits.add(session, acme, 2_000_000, "topup", "topup:new")
        await credits.add(session, acme, -500_000, "usage", "usage:r1")
        fix, _ = await credits.add(session, acme, -100_000, "adjustment", "adjustment:1")
        other, _ = await credits.add(session, beta, 7_000_000, "stripe", "stripe:evt_1")
    async with sessions.begin() as session:
        recent = await credits.topups_since(session, since)
        snapshot = await credits.balance_with_recent_topups(session, acme.id, since)
        empty = await credits.balance_with_recent_topups(session, 999, since)

    assert recent == [(new.id, acme.id, 2_000_000), (fix.id, acme.id, -100_000), (other.id, beta.id, 7_000_000)]
    assert snapshot == (2_400_000, [new.id, fix.id])
    assert empty == (0, [])


async def test_period_spend_sums_the_rollups_of_a_customer_or_a_key_from_an_hour_on(sessions: Sessions) -> None:
    seeded = await seed_usage(sessions)
    acme, acme_1 = seeded.customers["acme"], seeded.keys["acme-1"]
    async with sessions.begin() as session:
        acme_all = await credits.period_spend(session, acme, None, at("2025-03-01T00:00"))
        acme_day_two = await credits.period_spend(session, acme, None, at("2025-03-02T00:00"))
        key_from_23h = await credits.period_spend(session, None, acme_1, at("2025-03-01T23:00"))
        both = await credits.period_spend(session, acme, acme_1, at("2025-03-01T00:00"))
        later = await credits.period_spend(session, acme, None, at("2025-04-01T00:00"))

    assert (acme_all, acme_day_two, key_from_23h, both, later) == (4_500_251, 3_000_001, 3_000_001, 4_500_001, 0)
