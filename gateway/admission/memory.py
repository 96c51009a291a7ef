"""Admission counters in this process, for the embedded default (one process, no Redis).

The semantics are those of the Redis Lua scripts, step for step; the same tests run on both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.admission.decision import CreditView, Decision, RateView, SeedNeeded
from gateway.admission.rules import LEASE_MS, WINDOW_MS, Ask, Credit, ScopeLimits
from gateway.admission.store import budget_key, credit_key, rate_key, slots_key


@dataclass(slots=True)
class _CreditState:
    balance: int
    reserved: int = 0
    applied: set[int] = field(default_factory=set)


@dataclass(slots=True)
class MemoryStore:
    tats: dict[str, float] = field(default_factory=dict)
    slots: dict[str, dict[str, int]] = field(default_factory=dict)
    budgets: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (spent, expires_ms)
    credits: dict[str, _CreditState] = field(default_factory=dict)

    async def reserve(self, scopes: Sequence[ScopeLimits], credit: Credit | None, ask: Ask) -> Decision | SeedNeeded:
        now = ask.now_ms
        requests: RateView | None = None
        tokens: RateView | None = None
        warn = False
        updates: list[tuple[str, float]] = []
        for scope in scopes:
            for unit, limit, cost in (("requests", scope.rpm, 1), ("tokens", scope.tpm, ask.tokens)):
                if limit is None:
                    continue
                if cost > limit:
                    return Decision(False, "too_large", scope.scope)
                interval = WINDOW_MS / limit
                tat = max(self.tats.get(rate_key(scope, unit), now), now)
                ahead = tat + cost * interval - now
                if ahead > WINDOW_MS:
                    return Decision(False, unit, scope.scope, math.ceil(ahead - WINDOW_MS))
                updates.append((rate_key(scope, unit), now + ahead))
                view = RateView(limit, math.floor((WINDOW_MS - ahead) / interval), math.ceil(ahead))
                if unit == "requests":
                    requests = requests or view
                else:
                    tokens = tokens or view
            if scope.max_concurrency is not None:
                held = self._live_slots(slots_key(scope), now)
                if len(held) >= scope.max_concurrency:
                    return Decision(False, "concurrency", scope.scope, 1000)
            if scope.budget_micros is not None:
                entry = self._budget(budget_key(scope, now), now)
                if entry is None:
                    return SeedNeeded("budget", scope.scope)
                if entry + ask.cost_micros > scope.budget_micros:
                    return Decision(False, "budget", scope.scope)
                warn = warn or (entry + ask.cost_micros) * 100 >= scope.budget_micros * scope.warning_percent
        if credit is not None:
            state = self.credits.get(credit_key(credit))
            if state is None:
                return SeedNeeded("credits", credit.customer)
            if state.balance - state.reserved - ask.cost_micros < -credit.grace_micros:
                return Decision(False, "credits", credit.customer, credit=CreditView(state.balance, state.reserved))
        self._apply(scopes, credit, ask, updates)
        return Decision(True, requests=requests, tokens=tokens, budget_warning=warn)

    def _apply(
        self, scopes: Sequence[ScopeLimits], credit: Credit | None, ask: Ask, updates: list[tuple[str, float]]
    ) -> None:
        for key, tat in updates:
            self.tats[key] = tat
        for scope in scopes:
            if scope.max_concurrency is not None:
                self._live_slots(slots_key(scope), ask.now_ms)[ask.request_id] = ask.now_ms + LEASE_MS
            if scope.budget_micros is not None:
                key = budget_key(scope, ask.now_ms)
                spent, expires = self.budgets[key]
                self.budgets[key] = (spent + ask.cost_micros, expires)
        if credit is not None:
            self.credits[credit_key(credit)].reserved += ask.cost_micros

    def _live_slots(self, key: str, now: int) -> dict[str, int]:
        held = self.slots.setdefault(key, {})
        for request_id in [r for r, expires in held.items() if expires <= now]:
            del held[request_id]
        return held

    def _budget(self, key: str, now: int) -> int | None:
        entry = self.budgets.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

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
        for scope in scopes:
            for unit, limit, delta in (
                ("requests", scope.rpm, -1 if failed else 0),
                ("tokens", scope.tpm, used_tokens - ask.tokens),
            ):
                key = rate_key(scope, unit)
                if limit is not None and delta and key in self.tats:
                    self.tats[key] += delta * WINDOW_MS / limit
            if scope.max_concurrency is not None:
                self.slots.get(slots_key(scope), {}).pop(ask.request_id, None)
            if scope.budget_micros is not None:
                key = budget_key(scope, ask.now_ms)
                if key in self.budgets:
                    spent, expires = self.budgets[key]
                    self.budgets[key] = (spent + used_cost - ask.cost_micros, expires)
        if credit is not None and (state := self.credits.get(credit_key(credit))) is not None:
            state.reserved -= ask.cost_micros
            state.balance -= used_cost

    async def seed_budget(self, key: str, spent_micros: int, ttl_ms: int) -> None:
        self.budgets.setdefault(key, (spent_micros, int(time.time() * 1000) + ttl_ms))

    async def seed_credit(self, credit: Credit, balance_micros: int, included: Sequence[int]) -> None:
        self.credits.setdefault(credit_key(credit), _CreditState(balance_micros, 0, set(included)))

    async def apply_topups(self, credit: Credit, entries: Sequence[tuple[int, int]]) -> None:
        state = self.credits.get(credit_key(credit))
        if state is None:
            return  # seeded from the ledger, top-ups included, when next needed
        for entry_id, micros in entries:
            if entry_id not in state.applied:
                state.applied.add(entry_id)
                state.balance += micros
