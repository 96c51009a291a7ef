"""Admitting a request against its key's and customer's limits, and settling it afterwards."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from gateway.admission import shortfall
from gateway.admission.decision import Decision, SeedNeeded, rate_headers
from gateway.admission.rules import Ask, Credit, ScopeLimits, credit_of, scopes_of
from gateway.admission.shortfall import Balance
from gateway.admission.store import AdmissionStore, budget_key, budget_ttl_ms
from gateway.core.errors import TollgateError
from gateway.core.throttled_log import ThrottledLog
from gateway.keys.principal import Principal
from gateway.metrics import Metrics

log = logging.getLogger("tollgate.admission")

SeedBudget = Callable[[ScopeLimits, int], Awaitable[int]]  # (scope, now_ms) -> micros spent this period
# credit -> (ledger balance in micros, ids of the recent top-ups that balance includes)
SeedCredit = Callable[[Credit], Awaitable[tuple[int, list[int]]]]
# Top-ups (id, customer id, micros) written recently by any process.
RecentTopups = Callable[[], Awaitable[list[tuple[int, int, int]]]]


class RateLimited(TollgateError):
    status = 429
    type = "requests"
    default_code = "rate_limit_exceeded"


class RequestsLimited(RateLimited):
    """OpenAI names the exhausted unit as the error's type."""

    type = "requests"


class TokensLimited(RateLimited):
    type = "tokens"


class InsufficientQuota(TollgateError):
    status = 402
    type = "insufficient_quota"
    default_code = "insufficient_quota"


class AdmissionUnavailable(TollgateError):
    status = 503
    type = "server_error"
    default_code = "admission_unavailable"


class Ticket(msgspec.Struct, frozen=True):
    """A reservation held by one request until it is settled."""

    scopes: list[ScopeLimits]
    credit: Credit | None
    ask: Ask
    headers: dict[str, str]


class Plan(msgspec.Struct, frozen=True):
    """The limits that apply to one principal's request, worked out once per request."""

    scopes: list[ScopeLimits]
    credit: Credit | None

    @property
    def needs_tokens(self) -> bool:
        return any(s.tpm is not None for s in self.scopes)

    @property
    def needs_cost(self) -> bool:
        return self.credit is not None or any(s.budget_micros is not None for s in self.scopes)


def plan_for(principal: Principal) -> Plan | None:
    """None when nothing limits this principal: its requests skip admission altogether."""
    scopes, credit = scopes_of(principal), credit_of(principal)
    return Plan(scopes, credit) if scopes or credit is not None else None


class Admission:
    def __init__(
        self,
        store: AdmissionStore,
        metrics: Metrics,
        *,
        seed_budget: SeedBudget,
        seed_credit: SeedCredit,
        fail_open: bool,
    ) -> None:
        self.store = store
        self._metrics = metrics
        self._seed_budget = seed_budget
        self._seed_credit = seed_credit
        self._fail_open = fail_open
        self._settling: set[asyncio.Task[None]] = set()
        self._warnings = ThrottledLog(log)  # once per 30 s while Redis is down, not per request

    async def admit(self, plan: Plan, request_id: str, tokens: int, cost_micros: int) -> Ticket | None:
        """Reserve, or raise 429 / 402; None when the store is down and we fail open."""
        scopes, credit = plan.scopes, plan.credit
        ask = Ask(request_id, tokens, cost_micros, int(time.time() * 1000))
        try:
            decision = await self._reserve(scopes, credit, ask)
        except TollgateError:
            raise
        except Exception as exc:
            self._store_failed(exc)
            if self._fail_open:
                return None
            raise AdmissionUnavailable("Limits cannot be checked right now; try again shortly.") from exc
        if not decision.allowed:
            self._metrics.admission_rejections.labels(decision.reason or "unknown").inc()
            raise _refusal(decision, scopes, credit, ask)
        if decision.budget_warning:
            self._metrics.budget_warnings.inc()
        return Ticket(scopes, credit, ask, rate_headers(decision))

    async def _reserve(self, scopes: list[ScopeLimits], credit: Credit | None, ask: Ask) -> Decision:
        for _ in range(4):  # at most one seed per budget scope and credit, then a decision
            outcome = await self.store.reserve(scopes, credit, ask)
            if isinstance(outcome, Decision):
                return outcome
            await self._seed(outcome, scopes, credit, ask)
        raise RuntimeError("admission counters could not be seeded")

    async def _seed(self, need: SeedNeeded, scopes: list[ScopeLimits], credit: Credit | None, ask: Ask) -> None:
        if need.kind == "credits" and credit is not None:
            balance, included = await self._seed_credit(credit)
            await self.store.seed_credit(credit, balance, included)
            return
        scope = next(s for s in scopes if s.scope == need.scope)
        spent = await self._seed_budget(scope, ask.now_ms)
        await self.store.seed_budget(budget_key(scope, ask.now_ms), spent, budget_ttl_ms(scope, ask.now_ms))

    def settle(self, ticket: Ticket | None, used_tokens: int, used_cost: int, *, failed: bool) -> None:
        """Settle in the background: the answer does not wait for the counters."""
        if ticket is None:
            return
        task = asyncio.ensure_future(self._settle(ticket, used_tokens, used_cost, failed))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, ticket: Ticket, used_tokens: int, used_cost: int, failed: bool) -> None:
        try:
            await self.store.settle(ticket.scopes, ticket.credit, ticket.ask, used_tokens, used_cost, failed=failed)
        except Exception as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: Exception) -> None:
        self._metrics.admission_store_errors.inc()
        policy = "admitting without limits" if self._fail_open else "refusing limited requests"
        self._warnings.warning("admission store unavailable (%s); %s until it returns", exc, policy)

    async def drain(self) -> None:
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    async def follow_topups(self, recent: RecentTopups, interval: float) -> None:
        """Apply ledger top-ups written by any process (admin API, CLI, Stripe), once each: every poll
        re-reads a trailing window, and the store skips the ids it has already added."""
        while True:
            await asyncio.sleep(interval)
            try:
                by_customer: dict[int, list[tuple[int, int]]] = {}
                for entry_id, customer_id, micros in await recent():
                    by_customer.setdefault(customer_id, []).append((entry_id, micros))
                for customer_id, items in by_customer.items():
                    await self.store.apply_topups(Credit(f"customer:{customer_id}", customer_id, 0), items)
            except Exception as exc:
                self._store_failed(exc)


def _refusal(decision: Decision, scopes: list[ScopeLimits], credit: Credit | None, ask: Ask) -> TollgateError:
    who = "customer" if (decision.scope or "").startswith("customer:") else "API key"
    if decision.reason == "credits" and decision.credit is not None and credit is not None:
        held = decision.credit
        return shortfall.refusal(Balance(held.balance_micros, held.held_micros, credit.grace_micros), ask.cost_micros)
    if decision.reason in ("budget", "credits"):
        what = "budget for this period" if decision.reason == "budget" else "prepaid credits"
        return InsufficientQuota(f"This {who} has run out of its {what}.")
    retry = max(1, math.ceil(decision.retry_after_ms / 1000))
    headers: dict[str, Any] = {"retry-after": str(retry)}
    if decision.reason == "too_large":
        return TokensLimited(
            f"Request too large for the tokens-per-minute limit of this {who}.", code="tokens_too_large"
        )
    if decision.reason == "concurrency":
        return RateLimited(
            f"Too many concurrent requests for this {who}.", code="concurrency_limit_exceeded", headers=headers
        )
    scope = next((s for s in scopes if s.scope == decision.scope), None)
    limit = (scope.rpm if decision.reason == "requests" else scope.tpm) if scope else None
    if limit is not None:
        headers[f"x-ratelimit-limit-{decision.reason}"] = str(limit)
        headers[f"x-ratelimit-remaining-{decision.reason}"] = "0"
        headers[f"x-ratelimit-reset-{decision.reason}"] = f"{retry}s"
    limited = RequestsLimited if decision.reason == "requests" else TokensLimited
    return limited(
        f"Rate limit reached for {limited.type} per minute on this {who}. Try again in {retry}s.", headers=headers
    )
