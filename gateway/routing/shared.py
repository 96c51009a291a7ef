"""What gateway replicas share about routing through Redis, when it is configured.

- Pools' leases (``max_outstanding`` and the queue bound): :mod:`gateway.routing.leases`.
- Breakers: a replica's circuit that opens or closes on one gateway is announced on the routing
  channel, and every other gateway's breaker for that replica follows within the message's
  latency (milliseconds). Nothing is read per request: news arrives by subscription, as key
  revocations do (:mod:`gateway.keys.sync`).
- Rollouts' verdicts are the database's (gateway/routing/rollouts.py), their tallies Redis's when
  configured (gateway/routing/tallies.py).

Without Redis, one gateway process is the whole deployment and all of this stays in it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from gateway.config.routing import RoutingSettings
from gateway.core.background import Background, subscribe_forever
from gateway.core.redis_pipe import RedisPipe
from gateway.core.throttled_log import ThrottledLog
from gateway.routing.leases import SharedLeases
from gateway.routing.replicas import Circuit, Replica

log = logging.getLogger("tollgate.routing")


class _Pool(Protocol):
    @property
    def replicas(self) -> Sequence[Replica]: ...


class RoutingView(Protocol):
    """What the news changes in the routing table (:class:`gateway.routing.table.RoutingTable`).
    Said here as a protocol because the table holds this object: importing it back would be a circle."""

    @property
    def pools(self) -> Mapping[str, _Pool]: ...

    def clock(self) -> float: ...


class News(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: str  # "freed" (a pool lease came back), "breaker"
    origin: str  # the gateway that sent it: its own news is not applied twice
    pool: str = ""
    replica: str = ""
    circuit: str = ""  # "open" or "closed"


_news = msgspec.json.Decoder(News)


class SharedRouting:
    def __init__(self, pipe: RedisPipe, redis: Any, namespace: str, settings: RoutingSettings) -> None:
        self.origin = secrets.token_hex(6)
        self._pipe = pipe
        self._redis = redis  # redis-py, for the subscription
        self._channel = f"{namespace}:routing"
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

    async def follow_forever(self, table: Callable[[], RoutingView]) -> None:
        """Take the other gateways' news, and keep this one's pool leases alive."""
        await asyncio.gather(self.listen_forever(table), self.leases.renew_forever())

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
