"""The answer of a reservation, and what the client is told about its limits."""

from __future__ import annotations

import msgspec


class RateView(msgspec.Struct, frozen=True):
    """One rate limit as OpenAI's ``x-ratelimit-*`` headers show it."""

    limit: int
    remaining: int
    reset_ms: int


class CreditView(msgspec.Struct, frozen=True):
    """A prepaid customer's balance as the store held it when it refused a request."""

    balance_micros: int
    held_micros: int  # reserved by requests in flight


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    reason: str | None = None  # requests | tokens | concurrency | budget | credits | too_large
    scope: str | None = None
    retry_after_ms: int = 0
    requests: RateView | None = None
    tokens: RateView | None = None
    budget_warning: bool = False
    credit: CreditView | None = None  # with reason "credits"


class SeedNeeded(msgspec.Struct, frozen=True):
    """A budget or credit counter the store does not hold yet: the caller seeds it from the database."""

    kind: str  # budget | credits
    scope: str


def duration(ms: int) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


def rate_headers(decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, view in (("requests", decision.requests), ("tokens", decision.tokens)):
        if view is not None:
            headers[f"x-ratelimit-limit-{name}"] = str(view.limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(view.remaining)
            headers[f"x-ratelimit-reset-{name}"] = duration(view.reset_ms)
    if decision.budget_warning:
        headers["x-tollgate-budget-warning"] = "true"
    return headers
