"""Admission counters in Redis, shared by every replica: each reservation is one Lua script call."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

from gateway.admission.decision import CreditView, Decision, RateView, SeedNeeded
from gateway.admission.rules import LEASE_MS, WINDOW_MS, Ask, Credit, ScopeLimits
from gateway.admission.store import (
    CREDIT_TTL_MS,
    applied_key,
    budget_key,
    credit_key,
    rate_key,
    slots_key,
)
from gateway.core.redis_pipe import RedisPipe, Script


def _script(name: str) -> Script:
    return Script.of(resources.files("gateway.admission").joinpath(name).read_text())


_RESERVE, _SETTLE = _script("reserve.lua"), _script("settle.lua")
_TOPUP, _SEED_CREDIT = _script("topup.lua"), _script("seed_credit.lua")


class RedisStore:
    """Keys live under ``namespace:``, so deployments (or test runs) can share one Redis. Every call
    goes down one pipelined connection (:mod:`gateway.core.redis_pipe`): two scripts per limited
    request are admission's whole cost, and redis-py's per-command overhead was most of theirs."""

    def __init__(self, pipe: RedisPipe, namespace: str) -> None:
        self._pipe = pipe
        self._ns = f"{namespace}:"

    def _keys(self, scopes: Sequence[ScopeLimits], credit: Credit | None, now_ms: int) -> list[str]:
        keys: list[str] = []
        for scope in scopes:
            keys += _scope_keys(self._ns, scope)
            keys.append(self._ns + budget_key(scope, now_ms))
        if credit is not None:
            keys.append(self._ns + credit_key(credit))
        return keys

    async def reserve(self, scopes: Sequence[ScopeLimits], credit: Credit | None, ask: Ask) -> Decision | SeedNeeded:
        args: list[int | str] = [
            ask.now_ms,
            ask.request_id,
            LEASE_MS,
            WINDOW_MS,
            len(scopes),
            int(credit is not None),
            ask.tokens,
            ask.cost_micros,
        ]
        for scope in scopes:
            args += [
                scope.rpm or 0,
                scope.tpm or 0,
                scope.max_concurrency or 0,
                scope.budget_micros or 0,
                scope.warning_percent,
            ]
        args += [credit.grace_micros if credit else 0, CREDIT_TTL_MS]
        result = await self._pipe.run(_RESERVE, self._keys(scopes, credit, ask.now_ms), [_joined(args)])
        code, reason, index, retry_ms = int(result[0]), _text(result[1]), int(result[2]), int(result[3])
        where = scopes[index].scope if index >= 0 else (credit.customer if credit else None)
        if code == 2:
            return SeedNeeded(reason, where or "")
        if code == 0:
            held = CreditView(int(result[4]), int(result[5])) if reason == "credits" else None
            return Decision(False, reason, where, retry_ms, credit=held)
        views = [int(v) for v in result[4:10]]
        return Decision(
            True,
            requests=RateView(*views[0:3]) if views[0] else None,
            tokens=RateView(*views[3:6]) if views[3] else None,
            budget_warning=bool(int(result[10])),
        )

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
        args: list[int | str] = [
            ask.now_ms,
            ask.request_id,
            WINDOW_MS,
            len(scopes),
            int(credit is not None),
            used_tokens - ask.tokens,
            ask.cost_micros,
            used_cost,
            int(failed),
        ]
        for scope in scopes:
            args += [scope.rpm or 0, scope.tpm or 0, scope.max_concurrency or 0, scope.budget_micros or 0]
        # Nobody waits for a settlement: while others are in flight it goes out with them (within 1 ms).
        await self._pipe.run(_SETTLE, self._keys(scopes, credit, ask.now_ms), [_joined(args)], hold=True)

    async def seed_budget(self, key: str, spent_micros: int, ttl_ms: int) -> None:
        await self._pipe.call("SET", self._ns + key, spent_micros, "PX", ttl_ms, "NX")

    async def seed_credit(self, credit: Credit, balance_micros: int, included: Sequence[int]) -> None:
        keys = [self._ns + credit_key(credit), self._ns + applied_key(credit)]
        await self._pipe.run(_SEED_CREDIT, keys, [balance_micros, CREDIT_TTL_MS, *included])

    async def apply_topups(self, credit: Credit, entries: Sequence[tuple[int, int]]) -> None:
        flat = [value for entry in entries for value in entry]
        if flat:
            await self._pipe.run(_TOPUP, [self._ns + credit_key(credit), self._ns + applied_key(credit)], flat)


@functools.lru_cache(maxsize=4096)
def _scope_keys(namespace: str, scope: ScopeLimits) -> tuple[str, str, str]:
    """A scope's rate and concurrency keys, which never change (its budget key moves with the period)."""
    requests, tokens = rate_key(scope, "requests"), rate_key(scope, "tokens")
    return namespace + requests, namespace + tokens, namespace + slots_key(scope)


def _joined(args: list[int | str]) -> str:
    """The scripts' arguments as one string (see reserve.lua): request ids never contain spaces."""
    return " ".join(map(str, args))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
