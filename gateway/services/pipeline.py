"""One request from authenticated key to metered answer, independent of the web framework."""

from __future__ import annotations

import time
from dataclasses import dataclass

from backends.base import JSON, Operation
from backends.errors import TollgateError
from gateway.auth.cache import KeyCache
from gateway.auth.principal import Principal
from gateway.metering.meter import Meter, Metered
from gateway.metering.pricing import usd
from gateway.services import relay
from gateway.services.catalog import Catalog, Route
from gateway.tokens import Tokenizer


@dataclass(frozen=True, slots=True)
class Call:
    """A validated request, ready to be sent."""

    request_id: str
    op: Operation
    model: str
    raw: JSON
    stream: bool
    wants_usage: bool
    started: float  # perf_counter when the request arrived


@dataclass(slots=True)
class Completed:
    body: JSON
    deployment: str
    cost_micros: int
    upstream_seconds: float


@dataclass(slots=True)
class Streaming:
    relay: relay.StreamRelay
    deployment: str
    upstream_seconds: float


class Pipeline:
    def __init__(
        self, catalog: Catalog, keys: KeyCache, meter: Meter, tokens: Tokenizer, *, anonymous: Principal | None = None
    ) -> None:
        self.catalog = catalog
        self.keys = keys
        self.meter = meter
        self.tokens = tokens
        self._anonymous = anonymous

    async def authenticate(self, authorization: str | None) -> Principal:
        if authorization is None and self._anonymous is not None:
            return self._anonymous
        return await self.keys.authenticate(authorization)

    def _prepare(self, principal: Principal, call: Call) -> tuple[Route, Metered]:
        """Checks that refuse a request before it is sent; a refused request is not metered."""
        route = self.catalog.resolve(call.model, call.op)
        principal.check_model(call.model)
        metered = Metered(call.request_id, principal, call.model, call.op.value, call.stream, call.started, time.time())
        return route, metered

    async def complete(self, principal: Principal, call: Call) -> Completed:
        route, metered = self._prepare(principal, call)
        try:
            answer = await relay.complete(route, call.op, call.raw)
        except TollgateError as exc:
            self.meter.record(
                metered, deployment=route.deployment, status=exc.http_status, outcome="upstream_error", usage=None
            )
            raise
        usage = answer.body.get("usage")
        charge = self.meter.record(
            metered,
            deployment=route.deployment,
            status=200,
            outcome="ok",
            usage=usage if isinstance(usage, dict) else None,
        )
        if isinstance(usage, dict):
            usage["cost"] = usd(charge.cost_micros)
        return Completed(answer.body, route.deployment, charge.cost_micros, answer.upstream_seconds)

    async def stream(self, principal: Principal, call: Call) -> Streaming:
        route, metered = self._prepare(principal, call)
        try:
            chunks, first, upstream_seconds = await relay.open_stream(route, call.op, call.raw)
        except TollgateError as exc:
            self.meter.record(
                metered, deployment=route.deployment, status=exc.http_status, outcome="upstream_error", usage=None
            )
            raise
        stream = relay.StreamRelay(
            route,
            call.op,
            chunks,
            first,
            wants_usage=call.wants_usage,
            tokens=self.tokens,
            prompt_tokens=lambda: self._prompt_tokens(call),
            meter=self.meter,
            metered=metered,
        )
        return Streaming(stream, route.deployment, upstream_seconds)

    def _prompt_tokens(self, call: Call) -> int:
        if call.op is Operation.CHAT:
            return self.tokens.count_chat(call.raw.get("messages") or [])
        return self.tokens.count_prompt(call.raw.get("prompt"))
