"""The counters behind admission, and their one contract; ``memory`` and ``redis`` implement it.

Each reservation checks every limit of every scope and applies them all, or none: in one Redis
round trip (a Lua script) across replicas, or in one synchronous step in-process.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Protocol

from gateway.admission.decision import Decision, SeedNeeded
from gateway.admission.rules import Ask, Credit, ScopeLimits, period_end, period_start

_DAY_MS = 86_400_000


@functools.lru_cache(maxsize=64)
def _period(period: str | None, day: int) -> tuple[str, int]:
    """The budget period holding UTC day number ``day``: its first day (ISO) and its end (Unix ms).
    Periods start on a UTC day, so the day decides them; worked out once a day, not per request."""
    midnight = dt.datetime.fromtimestamp(day * _DAY_MS / 1000, dt.UTC)
    end = period_end(period, midnight)
    return period_start(period, midnight).date().isoformat(), int(end.timestamp() * 1000)


def budget_key(scope: ScopeLimits, now_ms: int) -> str:
    return f"budget:{scope.scope}:{_period(scope.budget_period, now_ms // _DAY_MS)[0]}"


def budget_ttl_ms(scope: ScopeLimits, now_ms: int) -> int:
    return _period(scope.budget_period, now_ms // _DAY_MS)[1] - now_ms + 3_600_000


def rate_key(scope: ScopeLimits, unit: str) -> str:
    return f"rate:{unit}:{scope.scope}"


def slots_key(scope: ScopeLimits) -> str:
    return f"slots:{scope.scope}"


def credit_key(credit: Credit) -> str:
    return f"credit:{credit.customer}"


def applied_key(credit: Credit) -> str:
    return f"credit-applied:{credit.customer}"


CREDIT_TTL_MS = 24 * 3_600_000  # re-read from the ledger after a day without traffic


class AdmissionStore(Protocol):
    async def reserve(self, scopes: Sequence[ScopeLimits], credit: Credit | None, ask: Ask) -> Decision | SeedNeeded:
        """Admit and reserve, or refuse and change nothing."""
        ...

    async def settle(
        self,
        scopes: Sequence[ScopeLimits],
        credit: Credit | None,
        ask: Ask,
        used_tokens: int,
        used_cost: int,
        *,
        failed: bool,
    ) -> None:
        """Replace the reservation by what was used; a failed request gives its request back too."""
        ...

    async def seed_budget(self, key: str, spent_micros: int, ttl_ms: int) -> None: ...

    async def seed_credit(self, credit: Credit, balance_micros: int, included: Sequence[int]) -> None:
        """Start the customer's counter at its ledger balance, which includes the top-ups ``included``."""
        ...

    async def apply_topups(self, credit: Credit, entries: Sequence[tuple[int, int]]) -> None:
        """Add ledger top-ups (id, micros) that are not in the balance yet, once each."""
        ...
