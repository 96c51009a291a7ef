"""What gateway replicas share about routing through Redis, when it is configured.

- Pools' leases (``max_outstanding`` and the queue bound): :mod:`gateway.routing.leases`.
- Breakers: a replica's circuit that opens or closes on one gateway is announced on the routing
  channel, and every other gateway's breaker for that replica follows within the message's
  latency (milliseconds). Nothing is read per request: news arrives by subscription, as key
  revocations do (:mod:`gateway.keys.sync`).
- Rollout verdicts: a canary rolled back (by its judge or an admin) or promoted is one verdict for
  the whole deployment: stored under ``<namespace>:rollout:<model>`` (no expiry) with the rollout
  config it judged, announced to the other gateways, and read again at start-up, so a restarted
  gateway keeps it. A changed rollout config is a new rollout and starts active.

Without Redis, one gateway process is the whole deployment and all of this stays in it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec
from redis.exceptions import RedisError

from gateway.core.background import Background, subscribe_forever
from gateway.core.redis_pipe import RedisPipe
from gateway.core.throttled_log import ThrottledLog
from gateway.routing.config import RoutingSettings
from gateway.routing.leases import SharedLeases
from gateway.routing.replicas import Circuit, Replica
from gateway.routing.rollout import Canary

log = logging.getLogger("tollgate.routing")


class _Route(Protocol):
    @property
    def canary(self) -> Canary | None: ...


class _Pool(Protocol):
    @property
    def replicas(self) -> Sequence[Replica]: ...


class RoutingView(Protocol):
    """What the news changes in the routing table (:class:`gateway.routing.table.RoutingTable`).
    Said here as a protocol because the table holds this object: importing it back would be a circle."""

    @property
    def models(self) -> Mapping[str, _Route]: ...

    @property
    def pools(self) -> Mapping[str, _Pool]: ...

    def clock(self) -> float: ...


class News(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str  # "freed" (a pool lease came back), "breaker", "verdict"
    origin: str  # the gateway that sent it: its own news is not applied twice
    pool: str = ""
    replica: str = ""
    circuit: str = ""  # "open" or "closed"
    model: str = ""


class Verdict(msgspec.Struct, frozen=True):
    rollout: str  # the rollout config judged, as JSON: a verdict holds for that config only
    state: str
    share: float
    reason: str | None


_news = msgspec.json.Decoder(News)
_verdict = msgspec.json.Decoder(Verdict)


def _rollout_of(canary: Canary) -> str:
    return msgspec.json.encode(canary.rollout).decode()


class SharedRouting:
    def __init__(self, pipe: RedisPipe, redis: Any, namespace: str, settings: RoutingSettings) -> None:
        self.origin = secrets.token_hex(6)
        self._pipe = pipe
        self._redis = redis  # redis-py, for the subscription
        self._channel = f"{namespace}:routing"
        self._verdicts = f"{namespace}:rollout:"
        self._background = Background(
            lambda error: self._unshared.warning("could not share routing news through Redis: %s", error)
        )
        # While Redis is down the subscription retries every second: one line per 30 s, not per retry.
        self._lost = ThrottledLog(log)
        self._unshared = ThrottledLog(log)
        self.leases = SharedLeases(
            pipe,
            namespace,
            self._channel,
            lambda pool: self._encode(News("freed", self.origin, pool=pool)),
            lease_seconds=settings.lease_seconds,
            poll_seconds=settings.queue_poll,
        )

    def _encode(self, news: News) -> str:
        return msgspec.json.encode(news).decode()

    def breaker_changed(self, pool: str, replica: str, circuit: Circuit) -> None:
        news = News("breaker", self.origin, pool=pool, replica=replica, circuit=circuit.value)
        self._background.spawn(self._pipe.call("PUBLISH", self._channel, self._encode(news)))

    def verdict_reached(self, canary: Canary) -> None:
        """A canary was rolled back or promoted here: store it and tell the others (not waited for)."""
        self._background.spawn(self.store_verdict(canary))

    async def store_verdict(self, canary: Canary) -> None:
        verdict = Verdict(_rollout_of(canary), canary.state, canary.share, canary.reason)
        await self._pipe.call("SET", self._verdicts + canary.model, msgspec.json.encode(verdict))
        news = News("verdict", self.origin, model=canary.model)
        await self._pipe.call("PUBLISH", self._channel, self._encode(news))

    async def load_verdicts(self, table: RoutingView) -> None:
        """Apply the stored verdicts to the table's rollouts (at start-up)."""
        try:
            for route in table.models.values():
                if route.canary is not None:
                    await self._load_verdict(route.canary)
        except (RedisError, OSError) as exc:
            log.warning("rollout verdicts not read (rollouts start active here): Redis failed (%s)", exc)

    async def follow_forever(self, table: Callable[[], RoutingView]) -> None:
        """Take the other gateways' news, and keep this one's pool leases alive."""
        await asyncio.gather(self.listen_forever(table), self.leases.renew_forever())

    async def _load_verdict(self, canary: Canary) -> None:
        stored = await self._pipe.call("GET", self._verdicts + canary.model)
        if stored is None:
            return
        verdict = _verdict.decode(stored)
        if verdict.rollout == _rollout_of(canary):
            canary.adopt(verdict.state, verdict.share, verdict.reason)

    async def listen_forever(self, table: Callable[[], RoutingView]) -> None:
        async def take(data: Any) -> None:
            current = table()
            await self._apply(_news.decode(data), current, current.clock())

        await subscribe_forever(self._redis, self._channel, take, self._lost, "routing")

    async def _apply(self, news: News, table: RoutingView, now: float) -> None:
        if news.origin == self.origin:
            return
        if news.kind == "freed":
            self.leases.freed(news.pool)
        elif news.kind == "breaker":
            pool = table.pools.get(news.pool)
            for replica in pool.replicas if pool is not None else []:
                if replica.key == news.replica:
                    replica.breaker.follow(Circuit(news.circuit), now)
                    log.warning("circuit of %s replica %s %s on another gateway", news.pool, news.replica, news.circuit)
        elif news.kind == "verdict":
            route = table.models.get(news.model)
            if route is not None and route.canary is not None:
                await self._load_verdict(route.canary)
