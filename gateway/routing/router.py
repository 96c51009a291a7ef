"""One request through the routing table: the chain of deployments, retries and fallbacks.

Everything here happens before the first byte reaches the client: a non-streamed answer is
complete before it is returned, and a stream is returned once its first chunk has arrived. What
fails later in a stream is the stream's own end (an error event), never a retry.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from backends.base import JSON, Operation
from gateway.config.routing import RoutingSettings
from gateway.core.errors import Overloaded, TollgateError, UpstreamProtocolError, UpstreamTimeout
from gateway.core.streams import close_stream
from gateway.metrics import Metrics
from gateway.routing import relay, retry
from gateway.routing.affinity import affinity_key
from gateway.routing.catalog import Route
from gateway.routing.deadlines import Bound, Deadlines
from gateway.routing.pool import Lease
from gateway.routing.replicas import Replica
from gateway.routing.table import ModelRoute, RoutingTable, Target

log = logging.getLogger("tollgate.routing")

T = TypeVar("T")
C = TypeVar("C")
BACKEND_HEADER = "x-tollgate-backend"


class Traits(msgspec.Struct, frozen=True):
    """What routing may know of a request besides its body: plain data, never the web request."""

    priority: int = 0  # the key's tier; lower goes first
    region: str | None = None
    session: str | None = None


@dataclass(slots=True)
class Opened:
    """A stream whose first chunk arrived; ``route.deployment`` is the deployment that answers."""

    route: Route
    chunks: AsyncIterator[JSON]
    first: JSON
    upstream_seconds: float


class Attempt:
    """One try on one replica; ``done`` accounts for it once (replica, breaker, queue)."""

    def __init__(self, router: Router, target: Target, lease: Lease) -> None:
        self._router = router
        self.target = target
        self.lease = lease
        self._done = False

    def first_token_bound(self) -> Bound:
        """``with`` it around awaits: :class:`TimeoutError` once the target's first-token limit has passed."""
        return self._router.deadlines.bound(self.target.first_token)

    def done(self, failure: TollgateError | None, seconds: float | None = None) -> None:
        if self._done:
            return
        self._done = True
        self.lease.done(failure, seconds)
        deployment = self.target.pool.name
        if self.lease.breaker_opened:
            self._router.metrics.routing_breaker_opened.labels(deployment).inc()
            log.warning("circuit of %s replica %s opened after %s", deployment, self.lease.replica.key, failure)


Call = Callable[[Route, Operation, JSON, Attempt], Awaitable[T]]
Sending = Callable[[str], None]  # told the deployment of each try as it is sent


class Router:
    def __init__(self, table: RoutingTable, settings: RoutingSettings, metrics: Metrics) -> None:
        self.table = table
        self.metrics = metrics
        self._retry = settings.retry
        self._random = random.Random()
        self.deadlines = Deadlines()

    def swap(self, table: RoutingTable) -> None:
        """Route new requests by ``table``; those in flight finish on the one they started with."""
        self.table = table

    async def complete(
        self, model: str, op: Operation, raw: JSON, traits: Traits, sending: Sending | None = None
    ) -> relay.Answer:
        """``sending`` is told the deployment of each try as it is sent (a cancelled request's record
        names it): a micro-batched embeddings request when its batch leaves, not when it joins one."""
        return await self._route(model, op, raw, traits, functools.partial(_complete, sending or _unheard))

    async def open_stream(
        self, model: str, op: Operation, raw: JSON, traits: Traits, sending: Sending | None = None
    ) -> Opened:
        call = _open_stream if sending is None else functools.partial(_told, sending, _open_stream)
        return await self._route(model, op, raw, traits, call)

    async def send(self, model: str, op: Operation, traits: Traits, send: Callable[[Route], Awaitable[T]]) -> T:
        """A request in another shape than chat's JSON (images, audio uploads) through the same chain of
        deployments, retries and fallbacks: ``send`` makes one try on the deployment it is given."""
        return await self._route(model, op, {}, traits, functools.partial(_sent, send))

    async def open_bytes(
        self, model: str, op: Operation, traits: Traits, open_: Callable[[Route], AsyncIterator[bytes]]
    ) -> tuple[Route, bytes, AsyncIterator[bytes]]:
        """A byte stream (speech), tried like a chat stream until its first chunk has arrived; the
        deployment that answers, that chunk, and the rest."""
        return await self._route(model, op, {}, traits, functools.partial(_opened_bytes, open_))

    async def _route(self, model: str, op: Operation, raw: JSON, traits: Traits, call: Call[T]) -> T:
        table = self.table
        chain = table.chain(model, op, traits.region, self._random.random())
        route = table.models[model]
        failure: TollgateError | None = None
        for position, target in enumerate(chain):
            if failure is not None:
                self.metrics.routing_fallbacks.labels(model, target.pool.name).inc()
            started = time.monotonic()
            try:
                last_resort = position == len(chain) - 1
                result = await self._on_target(route, target, op, raw, traits, call, last_resort)
            except TollgateError as exc:
                self._judge(route, target, exc, time.monotonic() - started)
                exc.headers[BACKEND_HEADER] = target.pool.name
                if isinstance(exc, Overloaded):
                    self.metrics.routing_overloaded.labels(target.pool.name).inc()
                if not retry.falls_back(exc):
                    raise
                failure = exc
                continue
            self._judge(route, target, None, time.monotonic() - started)
            return result
        assert failure is not None  # a chain is never empty
        raise failure

    def _judge(self, route: ModelRoute, target: Target, failure: TollgateError | None, seconds: float) -> None:
        """Count one request's outcome on a deployment towards its model's rollout, if it has one."""
        if route.canary is None:
            return
        ok = failure is None or not retry.blames_replica(failure)
        # Judged once for every gateway, on all their outcomes (gateway/routing/rollouts.py).
        route.canary.record(on_canary=target.canary, ok=ok, seconds=seconds)

    async def _on_target(
        self,
        route: ModelRoute,
        target: Target,
        op: Operation,
        raw: JSON,
        traits: Traits,
        call: Call[T],
        last_resort: bool,
    ) -> T:
        """Try one deployment, on another replica for each retry while there is one not tried."""
        pool = target.pool
        body = {**raw, "priority": traits.priority} if pool.priority_scheduling else raw
        tried: set[Replica] = set()
        attempt_number = 0
        while True:
            queued_at = time.perf_counter()
            lease = await pool.acquire(
                traits.priority, lambda: affinity_key(raw, traits.session), tried, last_resort=last_resort
            )
            if pool.queue is not None:
                self.metrics.queue_waited(pool.name, time.perf_counter() - queued_at)
            tried.add(lease.replica)
            attempt = Attempt(self, target, lease)
            upstream = Route(route.name, pool.name, target.upstream_model, lease.replica.backend)
            try:
                return await call(upstream, op, body, attempt)
            except TollgateError as exc:
                attempt.done(exc)
                wait = retry.delay(self._retry, attempt_number, exc, self._random.random())
                if wait is None:
                    raise
            except BaseException:
                attempt.done(None)  # cancelled (the client left): not the replica's fault
                raise
            self.metrics.routing_retries.labels(pool.name).inc()
            attempt_number += 1
            await asyncio.sleep(wait)


async def _told(sending: Sending, call: Call[T], route: Route, op: Operation, body: JSON, attempt: Attempt) -> T:
    sending(route.deployment)
    return await call(route, op, body, attempt)


def _unheard(deployment: str) -> None:
    """Nobody is told where a try is sent."""


async def _complete(sending: Sending, route: Route, op: Operation, body: JSON, attempt: Attempt) -> relay.Answer:
    limit = attempt.target.first_token  # a whole answer's first token comes with its last
    sent = functools.partial(sending, route.deployment)
    try:
        with attempt.first_token_bound():
            answer = await relay.complete(route, op, body, sent, attempt.target.batcher)
    except TimeoutError:
        raise UpstreamTimeout(f"upstream {route.deployment} sent no answer within {limit} s") from None
    attempt.done(None, answer.upstream_seconds)
    return answer


async def _open_stream(route: Route, op: Operation, body: JSON, attempt: Attempt) -> Opened:
    limit = attempt.target.first_token
    try:
        with attempt.first_token_bound():
            chunks, first, seconds = await relay.open_stream(route, op, body)
    except TimeoutError:
        raise UpstreamTimeout(f"upstream {route.deployment} sent no first token within {limit} s") from None
    return Opened(route, _watched(chunks, attempt, seconds), first, seconds)


async def _sent(send: Callable[[Route], Awaitable[T]], route: Route, op: Operation, body: JSON, attempt: Attempt) -> T:
    started = time.perf_counter()
    result = await send(route)
    attempt.done(None, time.perf_counter() - started)
    return result


async def _opened_bytes(
    open_: Callable[[Route], AsyncIterator[bytes]], route: Route, op: Operation, body: JSON, attempt: Attempt
) -> tuple[Route, bytes, AsyncIterator[bytes]]:
    limit, started = attempt.target.first_token, time.perf_counter()
    chunks = open_(route)
    try:
        with attempt.first_token_bound():
            first = await anext(chunks)
    except TimeoutError:
        await close_stream(chunks)
        raise UpstreamTimeout(f"upstream {route.deployment} sent nothing within {limit} s") from None
    except StopAsyncIteration:
        raise UpstreamProtocolError(f"upstream {route.deployment} sent no audio") from None
    except BaseException:
        await close_stream(chunks)
        raise
    return route, first, _watched(chunks, attempt, time.perf_counter() - started)


async def _watched(chunks: AsyncIterator[C], attempt: Attempt, ttft: float) -> AsyncIterator[C]:
    """The upstream's chunks; when they end, the attempt is accounted for with how they ended."""
    failure: TollgateError | None = None
    try:
        async for chunk in chunks:
            yield chunk
    except TollgateError as exc:
        failure = exc
        raise
    finally:
        attempt.done(failure, ttft)
        await close_stream(chunks)
