"""Prepaid credits for the admin API and the CLI: top-ups, balances and the ledger's latest entries.

A top-up is one transaction; the ``credits_added`` hook (telling admission counters, say) runs after
the commit, and only when something was added.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.service import usd_micros
from gateway.admin.wire import (
    CreditAdded,
    CreditBalance,
    CreditBalanceList,
    CreditEntryOut,
    CreditTopUp,
    CustomerCredits,
)
from gateway.core.errors import Conflict
from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.db.models import CreditEntry, Customer
from gateway.metering.pricing import format_usd

log = logging.getLogger("tollgate.admin")

# Called with (customer id, entry id, micro-dollars) after a top-up is committed.
CreditsAdded = Callable[[int, int, int], Awaitable[None]]


class CreditService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, credits_added: CreditsAdded | None = None
    ) -> None:
        self.sessions = sessions
        self.credits_added = credits_added

    async def top_up(self, name: str, body: CreditTopUp, *, param: str = "name") -> CreditAdded:
        """Add credit; repeated with the same ``reference``, it adds nothing and answers the same entry."""
        micros = usd_micros(body.usd, "usd", positive=True)
        reference = f"topup:{body.reference or uuid.uuid4().hex}"
        async with self.sessions.begin() as session:
            customer = await customers.require(session, name, param=param)
            entry, created = await credits.add(session, customer, micros, "topup", reference, body.note)
            if entry.customer_id != customer.id or entry.amount_micros != micros:
                raise Conflict(
                    f"The reference {body.reference!r} was used for another top-up"
                    f" ({format_usd(entry.amount_micros)} USD, customer id {entry.customer_id}).",
                    param="reference",
                )
            balance = await credits.balance(session, customer.id)
        if created and self.credits_added is not None:
            try:
                await self.credits_added(customer.id, entry.id, micros)
            except Exception:  # the credit stands; admission picks it up from the ledger
                log.exception("top-up %s was stored, but announcing it failed", entry.id)
        return CreditAdded(
            customer=customer.name,
            entry=entry_out(entry),
            replayed=not created,
            balance_micros=balance,
            balance_usd=format_usd(balance),
        )

    async def show(self, name: str, limit: int = 50, *, param: str = "name") -> CustomerCredits:
        async with self.sessions.begin() as session:
            customer = await customers.require(session, name, param=param)
            balance = await credits.balance(session, customer.id)
            latest = await credits.entries(session, customer.id, limit)
        return CustomerCredits(**_balance_fields(customer, balance), data=[entry_out(e) for e in latest])

    async def overview(self) -> CreditBalanceList:
        """Every customer's balance, by name."""
        async with self.sessions.begin() as session:
            everyone = await customers.list_all(session)
            balances = await credits.balances(session)
        return CreditBalanceList([CreditBalance(**_balance_fields(c, balances.get(c.id, 0))) for c in everyone])


def entry_out(entry: CreditEntry) -> CreditEntryOut:
    return CreditEntryOut(
        id=entry.id,
        amount_micros=entry.amount_micros,
        amount_usd=format_usd(entry.amount_micros),
        kind=entry.kind,
        reference=entry.reference,
        note=entry.note,
        created_at=entry.created_at,
    )


def _balance_fields(customer: Customer, balance: int) -> dict[str, Any]:
    return {
        "customer": customer.name,
        "prepaid": customer.prepaid,
        "balance_micros": balance,
        "balance_usd": format_usd(balance),
        "credit_grace_micros": customer.credit_grace_micros,
        "credit_grace_usd": format_usd(customer.credit_grace_micros),
    }
