"""The dashboard's admin pages: billing status per customer, and the keys with the customers to
issue them to. Keys are created and revoked through ``AdminService``, as the admin API does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.dashboard.billing_status import BillingStatusSource, reconciliation_cell, sync_cell
from gateway.dashboard.pages import Report, Table, usd_cell
from gateway.keys import repository as api_keys
from gateway.keys.repository import KeyInfo


async def billing_report(sessions: async_sessionmaker[AsyncSession], source: BillingStatusSource) -> Report:
    async with sessions.begin() as session:
        everyone = await customers.list_all(session)
        balances = await credits.balances(session)
        statuses = {s.customer_id: s for s in await source(session)}
    rows = [
        [
            customer.name,
            "prepaid" if customer.prepaid else "invoiced",
            usd_cell(balances.get(customer.id, 0)),
            customer.stripe_customer_id or "–",
            sync_cell(statuses.get(customer.id)),
            reconciliation_cell(statuses.get(customer.id)),
        ]
        for customer in everyone
    ]
    headers = ["customer", "plan", "credit balance (USD)", "Stripe customer", "last sync", "reconciliation"]
    return Report(title="Billing", tables=[Table("billing-status", "Billing status per customer", headers, rows)])


@dataclass(frozen=True, slots=True)
class KeysPage:
    keys: list[KeyInfo]
    customers: list[str]


async def keys_page(sessions: async_sessionmaker[AsyncSession]) -> KeysPage:
    async with sessions.begin() as session:
        keys = await api_keys.list_keys(session)
        names = [customer.name for customer in await customers.list_all(session)]
    return KeysPage(sorted(keys, key=lambda key: -key.id), names)
