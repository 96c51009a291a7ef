"""The credit ledger (prepaid balances) and the spend that budgets are measured against.

A balance is never stored: it is the sum of the customer's ledger entries, which are only ever
appended. Every entry carries a unique ``reference``, so a writer that retries (an admin repeating
a top-up, a replayed Stripe webhook, a replayed journal batch) adds it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import InvalidRequest
from gateway.db.inserts import insert_for
from gateway.db.models import CreditEntry, Customer, UsageRollup
from gateway.db.models.base import utcnow
from gateway.db.models.credit_entry import CREDIT_KINDS


class Spent(Protocol):
    """What a debit needs of one stored usage record (:class:`gateway.metering.record.UsageRecord`)."""

    @property
    def customer_id(self) -> int: ...
    @property
    def cost_micros(self) -> int: ...
    @property
    def request_id(self) -> str: ...


# Kinds whose amount must be positive (credits) or negative (debits); an adjustment may be either.
_POSITIVE = ("topup", "stripe")
_NEGATIVE = ("usage",)


def check_entry(amount_micros: int, kind: str) -> None:
    if kind not in CREDIT_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(CREDIT_KINDS)}, not {kind!r}.", param="kind")
    if amount_micros == 0 or (kind in _POSITIVE and amount_micros < 0) or (kind in _NEGATIVE and amount_micros > 0):
        direction = "positive" if kind in _POSITIVE else "negative" if kind in _NEGATIVE else "non-zero"
        raise InvalidRequest(f"A {kind} entry needs a {direction} amount, not {amount_micros}.", param="usd")


async def add(
    session: AsyncSession,
    customer: Customer,
    amount_micros: int,
    kind: str,
    reference: str,
    note: str | None = None,
) -> tuple[CreditEntry, bool]:
    """Append an entry, unless one with this ``reference`` exists: then that one is returned, unchanged.

    Returns the entry and whether this call added it (False: the reference was taken); the caller can
    tell a reference reused for something else by comparing the entry with its ask.
    """
    check_entry(amount_micros, kind)
    row = {
        "customer_id": customer.id,
        "amount_micros": amount_micros,
        "kind": kind,
        "reference": reference,
        "note": note,
        "created_at": utcnow(),
    }
    statement = (
        insert_for(session)(CreditEntry)
        .values(row)
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(CreditEntry.id)
    )
    created = (await session.execute(statement)).scalar_one_or_none() is not None
    entry = (await session.execute(select(CreditEntry).where(CreditEntry.reference == reference))).scalar_one()
    return entry, created


async def balance(session: AsyncSession, customer_id: int) -> int:
    """The customer's balance in micro-dollars: 0 for a customer with no entries."""
    total = func.coalesce(func.sum(CreditEntry.amount_micros), 0)
    result = await session.execute(select(total).where(CreditEntry.customer_id == customer_id))
    return int(result.scalar_one())


async def balances(session: AsyncSession, customer_ids: Collection[int] | None = None) -> dict[int, int]:
    """Balances by customer id, of every customer with entries (or of those named); absent means 0."""
    query = select(CreditEntry.customer_id, func.sum(CreditEntry.amount_micros)).group_by(CreditEntry.customer_id)
    if customer_ids is not None:
        query = query.where(CreditEntry.customer_id.in_(list(customer_ids)))
    return {customer_id: int(total) for customer_id, total in await session.execute(query)}


async def topups_since(session: AsyncSession, since: dt.datetime) -> list[tuple[int, int, int]]:
    """``(entry id, customer id, micros)`` of every entry but usage debits written since ``since``, oldest
    first: what admission counters, which debit usage themselves, have to add from the ledger."""
    query = (
        select(CreditEntry.id, CreditEntry.customer_id, CreditEntry.amount_micros)
        .where(CreditEntry.created_at >= since, CreditEntry.kind != "usage")
        .order_by(CreditEntry.id)
    )
    return [(entry_id, customer_id, int(micros)) for entry_id, customer_id, micros in await session.execute(query)]


async def balance_with_recent_topups(
    session: AsyncSession, customer_id: int, since: dt.datetime
) -> tuple[int, list[int]]:
    """The customer's balance, and the ids of the entries of :func:`topups_since` that it includes.

    One statement, so one snapshot on every database: a top-up is either in both or in neither.
    """
    total = select(func.coalesce(func.sum(CreditEntry.amount_micros), 0), literal(0))
    recent = select(CreditEntry.id, literal(1)).where(
        CreditEntry.created_at >= since, CreditEntry.kind != "usage", CreditEntry.customer_id == customer_id
    )
    rows = (await session.execute(union_all(total.where(CreditEntry.customer_id == customer_id), recent))).all()
    balance_micros = next(int(value) for value, is_entry in rows if not is_entry)
    return balance_micros, sorted(int(value) for value, is_entry in rows if is_entry)


async def entries(session: AsyncSession, customer_id: int, limit: int = 50) -> list[CreditEntry]:
    """The customer's latest entries, newest first."""
    query = (
        select(CreditEntry).where(CreditEntry.customer_id == customer_id).order_by(CreditEntry.id.desc()).limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def period_spend(
    session: AsyncSession, customer_id: int | None, api_key_id: int | None, since: dt.datetime
) -> int:
    """What the customer (or the key, or both) has spent since ``since``, in micro-dollars, from the
    hourly rollups: what the journal drain has stored so far. ``since`` should fall on an hour."""
    conditions: list[ColumnElement[bool]] = [UsageRollup.hour >= since]
    if customer_id is not None:
        conditions.append(UsageRollup.customer_id == customer_id)
    if api_key_id is not None:
        conditions.append(UsageRollup.api_key_id == api_key_id)
    total = func.coalesce(func.sum(UsageRollup.cost_micros), 0)
    return int((await session.execute(select(total).where(*conditions))).scalar_one())


@dataclass(slots=True)
class _Spend:
    micros: int
    first_request_id: str
    requests: int


async def debit_usage(session: AsyncSession, fresh: Iterable[Spent]) -> int:
    """Debit prepaid customers for usage just stored: one entry per customer for the batch.

    ``fresh`` must be the records stored for the first time by this transaction. Each request id is
    fresh exactly once, so ``usage:<the customer's smallest request id>`` names the debit uniquely,
    and a replayed batch (with nothing fresh in it) debits nothing. Returns how many entries it wrote.
    """
    spent: dict[int, _Spend] = {}
    for record in fresh:
        spend = spent.get(record.customer_id)
        if spend is None:
            spent[record.customer_id] = _Spend(record.cost_micros, record.request_id, 1)
            continue
        spend.micros += record.cost_micros
        spend.first_request_id = min(spend.first_request_id, record.request_id)
        spend.requests += 1
    spent = {customer: spend for customer, spend in spent.items() if spend.micros}
    if not spent:
        return 0
    prepaid = select(Customer.id).where(Customer.id.in_(list(spent)), Customer.prepaid.is_(True))
    debtors = list((await session.execute(prepaid)).scalars())
    if not debtors:
        return 0
    now = utcnow()
    rows = [
        {
            "customer_id": customer,
            "amount_micros": -spent[customer].micros,
            "kind": "usage",
            "reference": f"usage:{spent[customer].first_request_id}",
            "note": f"{spent[customer].requests} requests",
            "created_at": now,
        }
        for customer in sorted(debtors)
    ]
    statement = insert_for(session)(CreditEntry).on_conflict_do_nothing(index_elements=["reference"])
    await session.execute(statement, rows)
    return len(rows)
