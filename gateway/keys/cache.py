"""Authenticating keys from memory: the database is read only on a miss.

Changes reach every replica within a second: through Redis pub/sub when ``redis_url`` is set, and
in any case through a poll for keys whose ``updated_at`` moved (which also covers replicas that
missed a message); a key the poll sees changed is re-read in place, its cached copy served until the
read answers, so a key changed just before a database outage is not lost for the outage. Unknown
keys are remembered briefly, so a flood of bad keys cannot turn into a flood of database reads; and
concurrent requests with the same uncached key share one read, so that a busy key evicted by a change
is reloaded once, not once per request in flight.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway.core.errors import AuthenticationFailed, TollgateError
from gateway.keys.material import hash_key
from gateway.keys.principal import Principal

LoadKey = Callable[[str], Awaitable[Principal | None]]

_NEGATIVE_TTL = 5.0
_NEGATIVE_MAX = 10_000


class KeyStoreUnavailable(TollgateError):
    status = 503
    type = "server_error"
    default_code = "key_store_unavailable"


class KeyCache:
    def __init__(self, load: LoadKey, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._clock = clock
        self._known: dict[str, Principal] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        # Reads that began before their key changed: their answer is served once, never cached.
        self._stale: weakref.WeakSet[asyncio.Future[Principal | None]] = weakref.WeakSet()
        # Re-reads of changed keys in flight, by hash: an invalidation meanwhile voids the answer.
        self._refreshing: dict[str, object] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        secret = _bearer(authorization)
        key_hash = hash_key(secret)
        principal = self._known.get(key_hash)
        if principal is None:
            principal = await self._miss(key_hash)
        # The dictionary found the entry by hash; compare again in constant time, as the contract says.
        if not hmac.compare_digest(principal.key_hash, key_hash):
            raise _invalid()
        principal.check_usable()
        return principal

    async def _miss(self, key_hash: str) -> Principal:
        seen = self._unknown.get(key_hash)
        if seen is not None and self._clock() - seen < _NEGATIVE_TTL:
            raise _invalid()
        loading = self._loading.get(key_hash)
        if loading is None:
            loading = self._loading[key_hash] = asyncio.ensure_future(self._load(key_hash))
            loading.add_done_callback(lambda done: self._forget_load(key_hash, done))
        try:
            principal = await asyncio.shield(loading)  # one caller going away does not cancel the others' read
        except Exception as exc:  # the key store (the database) cannot answer: known keys still work
            raise KeyStoreUnavailable(
                "API keys cannot be checked right now (the key store is unreachable); try again shortly.",
                headers={"retry-after": "5"},
            ) from exc
        if principal is None:
            self._unknown[key_hash] = self._clock()
            self._unknown.move_to_end(key_hash)
            while len(self._unknown) > _NEGATIVE_MAX:
                self._unknown.popitem(last=False)
            raise _invalid()
        self._unknown.pop(key_hash, None)
        if loading not in self._stale:
            self._known[key_hash] = principal
        return principal

    def _forget_load(self, key_hash: str, done: asyncio.Future[Principal | None]) -> None:
        if self._loading.get(key_hash) is done:
            del self._loading[key_hash]

    async def refresh(self, key_hash: str) -> None:
        """A key changed: re-read it, serving the cached copy until the read answers. Evicting it instead
        would leave a key used just before a database outage refused for the whole outage. If the read
        fails the key is forgotten, so a revocation is never missed."""
        if key_hash not in self._known:
            self.invalidate(key_hash)
            return
        token = self._refreshing[key_hash] = object()
        try:
            principal = await self._load(key_hash)
        except Exception:
            principal = None
        if self._refreshing.get(key_hash) is not token:  # invalidated or re-read meanwhile
            return
        del self._refreshing[key_hash]
        if principal is None:
            self.invalidate(key_hash)
        else:
            self._known[key_hash] = principal

    def invalidate(self, key_hash: str) -> None:
        self._refreshing.pop(key_hash, None)
        self._known.pop(key_hash, None)
        self._unknown.pop(key_hash, None)
        loading = self._loading.pop(key_hash, None)
        if loading is not None:  # begun before the change, it may return the old row
            self._stale.add(loading)

    def invalidate_all(self) -> None:
        self._refreshing.clear()
        self._known.clear()
        self._unknown.clear()


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationFailed("The Authorization header must be 'Bearer YOUR_KEY'.", code="invalid_api_key")
    return secret.strip()


def _invalid() -> AuthenticationFailed:
    return AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")
