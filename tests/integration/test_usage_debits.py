"""Prepaid customers are debited for their usage in the drain's own transaction, once per request."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.customers.repository import CustomerTerms
from gateway.db.models import Customer
from gateway.keys import repository as api_keys
from gateway.metering.ingest import ingest
from gateway.metering.record import UsageRecord
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]


def record(request_id: str, customer: Customer, key_id: int, cost: int) -> UsageRecord:
    return usage_record(
        request_id, customer_id=customer.id, api_key_id=key_id, input_tokens=10, output_tokens=5, cost_micros=cost
    )


async def _setup(sessions: Sessions) -> tuple[Customer, int, Customer, int]:
    async with sessions.begin() as session:
        prepaid = await customers.create(session, "prepaid-co", terms=CustomerTerms(prepaid=True))
        postpaid = await customers.create(session, "postpaid-co")
        prepaid_key = (await api_keys.create(session, prepaid)).info.id
        postpaid_key = (await api_keys.create(session, postpaid)).info.id
        await credits.add(session, prepaid, 10_000_000, "topup", "topup:start")
    return prepaid, prepaid_key, postpaid, postpaid_key


async def _ingest(sessions: Sessions, records: list[UsageRecord]) -> int:
    async with sessions.begin() as session:
        return await ingest(session, records)


async def test_a_replayed_batch_debits_once(sessions: Sessions) -> None:
    prepaid, key, postpaid, other_key = await _setup(sessions)
    batch = [
        record("req-b", prepaid, key, 300_000),
        record("req-a", prepaid, key, 200_000),
        record("req-c", postpaid, other_key, 900_000),
    ]

    assert await _ingest(sessions, batch) == 3
    assert await _ingest(sessions, batch) == 0  # the journal replayed after a crash

    async with sessions.begin() as session:
        balance = await credits.balance(session, prepaid.id)
        debits = [e for e in await credits.entries(session, prepaid.id) if e.kind == "usage"]
        postpaid_entries = await credits.entries(session, postpaid.id)
    assert balance == 10_000_000 - 500_000
    assert [(d.amount_micros, d.reference, d.note) for d in debits] == [(-500_000, "usage:req-a", "2 requests")]
    assert postpaid_entries == []  # only prepaid customers have a ledger to debit


async def test_a_batch_partly_stored_before_debits_only_the_new_requests(sessions: Sessions) -> None:
    prepaid, key, _postpaid, _other_key = await _setup(sessions)
    await _ingest(sessions, [record("req-1", prepaid, key, 100_000)])

    mixed = [
        record("req-1", prepaid, key, 100_000),  # stored already
        record("req-2", prepaid, key, 20_000),
        record("req-3", prepaid, key, 3_000),
        record("req-4", prepaid, key, 0),  # a free request (say, a refused one)
    ]
    assert await _ingest(sessions, mixed) == 3

    async with sessions.begin() as session:
        balance = await credits.balance(session, prepaid.id)
        debits = [(e.amount_micros, e.reference) for e in await credits.entries(session, prepaid.id)]
    assert balance == 10_000_000 - 123_000
    assert debits == [(-23_000, "usage:req-2"), (-100_000, "usage:req-1"), (10_000_000, "topup:start")]


async def test_a_batch_that_costs_nothing_writes_no_debit(sessions: Sessions) -> None:
    prepaid, key, _postpaid, _other_key = await _setup(sessions)

    assert await _ingest(sessions, [record("free-1", prepaid, key, 0), record("free-2", prepaid, key, 0)]) == 2

    async with sessions.begin() as session:
        assert [e.kind for e in await credits.entries(session, prepaid.id)] == ["topup"]
