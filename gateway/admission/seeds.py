"""Where admission counters start from: the database's rollups and credit ledger."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admission.rules import Credit, ScopeLimits, period_start
from gateway.customers import credit_ledger as credits

# Top-ups are re-read for this long after they were written; the applied-id sets make that harmless.
TOPUP_WINDOW = dt.timedelta(minutes=2)


class Seeds:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def budget(self, scope: ScopeLimits, now_ms: int) -> int:
        """Micro-dollars spent so far in the scope's current budget period."""
        kind, _, ident = scope.scope.partition(":")
        since = period_start(scope.budget_period, dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC))
        async with self._sessions() as session:
            if kind == "key":
                return await credits.period_spend(session, None, int(ident), since)
            return await credits.period_spend(session, int(ident), None, since)

    async def credit(self, credit: Credit) -> tuple[int, list[int]]:
        """The customer's ledger balance, and which recent top-ups it includes, in one snapshot."""
        since = dt.datetime.now(dt.UTC) - TOPUP_WINDOW
        async with self._sessions() as session, session.begin():
            return await credits.balance_with_recent_topups(session, credit.customer_id, since)

    async def recent_topups(self) -> list[tuple[int, int, int]]:
        since = dt.datetime.now(dt.UTC) - TOPUP_WINDOW
        async with self._sessions() as session:
            return await credits.topups_since(session, since)
