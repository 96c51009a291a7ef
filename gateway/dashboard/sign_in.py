"""The dashboard's sign-in throttle and its revoked sessions: per-process state, held by the app state.

Sign-in: an address that gave a wrong admin token ``MAX_FAILURES`` times within ``WINDOW_SECONDS``
is refused (429 with ``Retry-After``) until the oldest of those failures is a window old; the admin
token itself cannot be guessed at any useful rate. With Redis configured the failures are counted
there (one sorted set per address, changed by one script), so every replica shares one count; each
process also counts its own, which it falls back to while Redis fails (logged, at most once per
30 s). Without Redis the count is the process's own (one process: the whole server). A balancer
that hides client addresses makes every client one address (the operator then signs in through it
less often than an attacker tries; see docs/hardening.md).

Sign-out: the session's id is remembered as revoked until the cookie would have expired anyway, so
a copied cookie is dead after sign-out. With Redis configured the revocation is written there too,
where every replica reads it; without Redis it holds in the process that signed out (one process:
the whole server).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.redis_pipe import RedisPipe, Script
from gateway.core.throttled_log import ThrottledLog
from gateway.dashboard.session import LIFETIME_SECONDS, Session

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
# Addresses tracked at once; past it the stalest are forgotten (memory stays bounded under a flood).
MAX_ADDRESSES = 10_000

log = logging.getLogger("tollgate.dashboard")

# KEYS[1]: the address's failures (member -> when, ms). ARGV: now ms, window ms, new member ("" to only
# look). Returns how many failures are within the window, and when the oldest of them was (ms).
_FAILURES = Script.of("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest == 0 then return {0, 0} end
return {redis.call('ZCARD', KEYS[1]), math.floor(tonumber(oldest[2]))}
""")


@dataclass(slots=True)
class SignInGuard:
    pipe: RedisPipe | None = None
    namespace: str = "tollgate"
    clock: Callable[[], float] = time.time
    max_failures: int = MAX_FAILURES
    window: float = WINDOW_SECONDS
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _revoked: dict[str, float] = field(default_factory=dict)  # session id -> when its cookie expires

    _warnings: ThrottledLog = field(default_factory=lambda: ThrottledLog(log))

    async def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        shared = await self._shared(address, "")
        count, oldest = shared if shared is not None else self._local(address)
        if count < self.max_failures:
            return None
        return max(1, math.ceil(oldest + self.window - self.clock()))

    async def failed(self, address: str) -> None:
        recent = self._recent(address)
        recent.append(self.clock())
        self._failures[address] = recent
        if len(self._failures) > MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]
        await self._shared(address, secrets.token_hex(8))

    def _local(self, address: str) -> tuple[int, float]:
        recent = self._recent(address)
        return len(recent), recent[0] if recent else 0.0

    async def _shared(self, address: str, member: str) -> tuple[int, float] | None:
        """Every replica's failures from ``address`` (adding one when ``member`` is given), or None
        without Redis or while it fails: the caller goes by this process's count."""
        if self.pipe is None:
            return None
        key = f"{self.namespace}:dashboard:sign-in:{address}"
        try:
            count, oldest = await self.pipe.run(
                _FAILURES, [key], [int(self.clock() * 1000), int(self.window * 1000), member]
            )
        except Exception as exc:
            self._warnings.warning("the sign-in throttle counts per process while Redis fails: %s", exc)
            return None
        self._warnings.recovered("the sign-in throttle counts across replicas again: Redis answers")
        return int(count), int(oldest) / 1000

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.pop(address, deque())  # re-inserted by failed(): the dict stays in age order
        horizon = self.clock() - self.window
        while recent and recent[0] <= horizon:
            recent.popleft()
        if recent:
            self._failures[address] = recent
        return recent

    async def revoke(self, session: Session) -> None:
        expires = session.issued_at + LIFETIME_SECONDS
        now = self.clock()
        self._revoked = {sid: at for sid, at in self._revoked.items() if at > now}
        self._revoked[session.id] = expires
        if self.pipe is not None and expires > now:
            # Redis down: this process still refuses the cookie (and the Redis watch reports the outage).
            with contextlib.suppress(Exception):
                await self.pipe.call("SET", self._key(session), "1", "PX", int((expires - now) * 1000))

    async def is_revoked(self, session: Session) -> bool:
        if session.id in self._revoked:
            return True
        if self.pipe is None:
            return False
        try:
            return bool(await self.pipe.call("EXISTS", self._key(session)))
        except Exception:  # Redis down: only revocations made by this process are known
            return False

    def _key(self, session: Session) -> str:
        return f"{self.namespace}:dashboard:revoked:{session.id}"
