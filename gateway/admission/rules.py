"""What a request asks of its limits, and the limits that apply to it.

Rate limits use GCRA (the generic cell rate algorithm) over a one-minute window: a limit of N per
minute admits a burst of N, then one every 60/N seconds; a request that uses ``c`` units (one
request, or its reserved tokens) moves the bucket's "theoretical arrival time" ``c × 60/N``
seconds ahead, and is refused while that would put it more than a minute ahead of now. Settling
moves it back (or further ahead) by the difference between what was reserved and what was used.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from gateway.keys.principal import Principal

WINDOW_MS = 60_000
LEASE_MS = 15 * 60_000  # a concurrency slot is freed by then even if its holder died


class ScopeLimits(msgspec.Struct, frozen=True):
    """The limits of one key or one customer; None is unlimited."""

    scope: str  # "key:<id>" or "customer:<id>"
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_micros: int | None = None
    budget_period: str | None = None
    warning_percent: int = 80

    @property
    def limited(self) -> bool:
        return not (
            self.rpm is None and self.tpm is None and self.max_concurrency is None and self.budget_micros is None
        )


class Credit(msgspec.Struct, frozen=True):
    customer: str  # "customer:<id>"
    customer_id: int
    grace_micros: int


class Ask(msgspec.Struct, frozen=True):
    """What one request reserves: one request, its estimated tokens, its worst-case cost."""

    request_id: str
    tokens: int
    cost_micros: int
    now_ms: int


def scopes_of(principal: Principal) -> list[ScopeLimits]:
    key = ScopeLimits(
        f"key:{principal.key_id}",
        principal.rpm,
        principal.tpm,
        principal.max_concurrency,
        principal.budget_micros,
        principal.budget_period,
        principal.budget_warning_percent,
    )
    customer = ScopeLimits(
        f"customer:{principal.customer_id}",
        principal.customer_rpm,
        principal.customer_tpm,
        principal.customer_max_concurrency,
        principal.customer_budget_micros,
        principal.customer_budget_period,
        principal.customer_budget_warning_percent,
    )
    return [scope for scope in (key, customer) if scope.limited]


def credit_of(principal: Principal) -> Credit | None:
    if not principal.prepaid:
        return None
    return Credit(f"customer:{principal.customer_id}", principal.customer_id, principal.credit_grace_micros)


def period_start(period: str | None, now: dt.datetime) -> dt.datetime:
    """The start of the budget period containing ``now`` (UTC); a budget without one is monthly."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def period_end(period: str | None, now: dt.datetime) -> dt.datetime:
    start = period_start(period, now)
    if period == "day":
        return start + dt.timedelta(days=1)
    return (start + dt.timedelta(days=32)).replace(day=1)
