"""One request from authenticated key to metered answer, independent of the web framework."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from backends.base import JSON, Operation
from gateway.admission.service import Admission, Plan, Ticket, plan_for
from gateway.admission.shortfall import CreditShort, Priced, explained
from gateway.cache import live, replay
from gateway.cache.policy import DEFAULT_CONTROLS, Controls
from gateway.cache.service import CACHE_DEPLOYMENT, Lookup, ResponseCache
from gateway.core.errors import TollgateError
from gateway.keys.cache import KeyCache
from gateway.keys.material import presents_key
from gateway.keys.principal import Principal
from gateway.metering.answers import answer_id_of, counted_usage
from gateway.metering.media_units import NO_MEDIA, MediaUsage
from gateway.metering.meter import Charge, Meter, Metered
from gateway.metering.outcome import BILLED, Outcome, cut_short
from gateway.metering.pricing import ModelRates, to_micros, token_cost_usd, usd
from gateway.metering.usage import TokenUsage
from gateway.routing import relay
from gateway.routing.catalog import Route
from gateway.routing.responses_relay import ResponsesRelay
from gateway.routing.router import BACKEND_HEADER, Router, Traits
from gateway.tokens import Tokenizer

T = TypeVar("T")
# What a request cancelled while routed used: (the deployment it was sent to, tokens, media).
Abandoned = tuple[str | None, JSON | None, MediaUsage]


class Call(msgspec.Struct, frozen=True):
    """A validated request, ready to be sent."""

    request_id: str
    op: Operation
    model: str
    raw: JSON
    stream: bool
    wants_usage: bool
    started: float  # perf_counter when the request arrived
    cache: Controls = DEFAULT_CONTROLS
    region: str | None = None  # x-tollgate-region: overrides the key's region
    session: str | None = None  # x-session-id: keeps a conversation on one replica
    endpoint: str | None = None  # the usage event's endpoint, when not op's (Responses translated into chat)
    # A batch line: only the gateway cancels it (shutdown), and its re-run is metered under the same id,
    # so a cancelled try records nothing (its reservation is given back).
    rerun_if_cancelled: bool = False
    # A batch line's try: a failure (an upstream error, recorded at no cost) is metered under this id,
    # not request_id, which is kept for the answer (a re-run after a crash must find no no-cost record there).
    failure_id: str | None = None


class Prepared(msgspec.Struct, frozen=True):
    """A request that passed the checks made before anything is reserved or sent."""

    route: Route  # the model's first deployment, as the catalog resolves it for the operation
    metered: Metered
    traits: Traits


@dataclass(slots=True)
class Completed:
    body: JSON
    deployment: str
    cost_micros: int
    upstream_seconds: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Streaming:
    relay: AsyncIterable[bytes]  # a StreamRelay, or a cache hit's replay
    deployment: str
    upstream_seconds: float
    headers: dict[str, str] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        router: Router,
        keys: KeyCache,
        meter: Meter,
        tokens: Tokenizer,
        admission: Admission,
        *,
        reserve_output_tokens: int,
        anonymous: Principal | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.router = router
        self.keys = keys
        self.meter = meter
        self.tokens = tokens
        self.admission = admission
        self._reserve_output_tokens = reserve_output_tokens
        self._anonymous = anonymous
        self.cache = cache

    async def authenticate(self, authorization: str | None) -> Principal:
        if self._anonymous is not None and not presents_key(authorization):
            return self._anonymous
        return await self.keys.authenticate(authorization)

    def prepare(
        self,
        principal: Principal,
        request_id: str,
        op: Operation,
        model: str,
        *,
        streamed: bool,
        started: float,
        region: str | None = None,
        session: str | None = None,
        endpoint: str | None = None,
    ) -> Prepared:
        """The checks that refuse a request before it is sent, unmetered: a journal that could not
        record it, a model the key may not use (first: to this key it does not exist), a model that
        does not serve ``op``. Then the request's meter and what routing may know of it."""
        self.meter.check_recording()
        principal.check_model(model)
        route = self.router.table.catalog.resolve(model, op)
        metered = Metered(request_id, principal, model, endpoint or op.value, streamed, started, time.time())
        return Prepared(route, metered, Traits(principal.priority, region or principal.region, session))

    def rates(self, model: str) -> ModelRates | None:
        """The model's prices in the current price book; None when it is not priced."""
        return self.meter.price_book.rates(model)

    async def admit_priced(self, principal: Principal, request_id: str, cost_micros: int) -> Ticket | None:
        """Admit a request whose price is known before it is sent and which counts no tokens (media)."""
        plan = plan_for(principal)
        if plan is None:
            return None
        return await self.admission.admit(plan, request_id, 0, cost_micros)

    async def routed(
        self,
        metered: Metered,
        ticket: Ticket | None,
        sending: Awaitable[T],
        abandoned: Callable[[], Abandoned | None],
    ) -> T:
        """Await the router, metering its failures once: an upstream error at no cost, naming the
        deployment that failed; a cancellation (the client left, or shutdown's grace ran out) as a
        client disconnect billed what ``abandoned`` says was used; nothing when it says None (a batch
        line, metered when it is run again)."""
        try:
            return await sending
        except TollgateError as exc:
            self.finish(metered, ticket, exc.headers.get(BACKEND_HEADER), exc.http_status, Outcome.UPSTREAM_ERROR, None)
            raise
        except asyncio.CancelledError:
            left = abandoned()
            if left is None:
                self.admission.settle(ticket, 0, 0, failed=True)
                raise
            deployment, usage, media = left
            outcome, status = cut_short()
            self.finish(metered, ticket, deployment, status, outcome, usage, media=media)
            raise

    async def _prepare(self, principal: Principal, call: Call) -> tuple[Traits, Metered, Ticket | None, Lookup]:
        """Checks that refuse a request before it is sent (a refused request is not metered), the
        admission, then the cache lookup."""
        prepared = self.prepare(
            principal,
            call.request_id,
            call.op,
            call.model,
            streamed=call.stream,
            started=call.started,
            region=call.region,
            session=call.session,
            endpoint=call.endpoint,
        )
        prepared.metered.failure_id = call.failure_id
        plan = plan_for(principal)
        if plan is None:
            ticket, lookup = None, await self._lookup(principal, call)
        else:
            ticket, lookup = await self._admit_and_look(plan, principal, call)
        return prepared.traits, prepared.metered, ticket, lookup

    async def _admit_and_look(self, plan: Plan, principal: Principal, call: Call) -> tuple[Ticket | None, Lookup]:
        """The reservation and the cache's exact lookup leave in one write, and Redis answers both in
        one round trip; the semantic search (an embedding) waits until the request is admitted."""
        if self.cache is None or not self.cache.covers(call.model):
            return await self._admit(plan, principal, call), Lookup(call.op)
        # Scheduled before the reservation is sent, so its GET joins the reservation's write.
        exact = asyncio.ensure_future(self.cache.lookup_exact(principal, call.op, call.model, call.raw, call.cache))
        try:
            ticket = await self._admit(plan, principal, call)
        except BaseException:
            exact.cancel()
            raise
        try:
            return ticket, await self.cache.lookup_rest(await exact)
        except BaseException:  # the client left during the lookup: give the reservation back now
            self.admission.settle(ticket, 0, 0, failed=True)
            raise

    async def _admit(self, plan: Plan, principal: Principal, call: Call) -> Ticket | None:
        want_cost = plan.needs_cost
        prompt = self._prompt_tokens(call) if plan.needs_tokens or want_cost else 0
        output = self._reserved_output(call)
        cost = 0
        rates = self.rates(call.model)
        if want_cost and rates is not None:
            worst = token_cost_usd(rates, TokenUsage(input=prompt, output=output))
            cost = to_micros(worst, principal.markup_percent)
        try:
            return await self.admission.admit(plan, call.request_id, prompt + output, cost)
        except CreditShort as short:  # say which max_tokens the balance would admit
            if rates is None:
                raise
            priced = Priced(rates, principal.markup_percent, prompt)
            raise explained(short.balance, priced, output, int(call.raw.get("n") or 1)) from None

    def finish(
        self,
        metered: Metered,
        ticket: Ticket | None,
        deployment: str | None,
        status: int,
        outcome: Outcome,
        usage: JSON | None,
        ttft: float | None = None,
        media: MediaUsage = NO_MEDIA,
    ) -> Charge:
        """Meter the request once and settle its reservation with what it really used."""
        charge = self.meter.record(
            metered, deployment=deployment, status=status, outcome=outcome, usage=usage, ttft=ttft, media=media
        )
        billed = outcome in BILLED
        self.admission.settle(ticket, charge.usage.total if billed else 0, charge.cost_micros, failed=not billed)
        return charge

    async def _lookup(self, principal: Principal, call: Call) -> Lookup:
        if self.cache is None:
            return Lookup(call.op)
        return await self.cache.lookup(principal, call.op, call.model, call.raw, call.cache)

    def _serve_hit(self, metered: Metered, ticket: Ticket | None, call: Call, lookup: Lookup) -> tuple[JSON, Charge]:
        """Meter a cache hit at its hit price; its reservation settles with no upstream tokens."""
        assert lookup.answer is not None and self.cache is not None
        usage = lookup.answer.get("usage")
        charge = self.meter.record(
            metered,
            deployment=CACHE_DEPLOYMENT,
            status=200,
            outcome=Outcome.OK,
            usage=usage if isinstance(usage, dict) else None,
            cache_status=lookup.status,
        )
        self.admission.settle(ticket, 0, charge.cost_micros, failed=False)
        self.cache.saved(call.model, charge.saved_micros)
        return replay.fresh_body(lookup.answer, call.op, call.request_id, usd(charge.cost_micros)), charge

    async def complete(self, principal: Principal, call: Call) -> Completed:
        traits, metered, ticket, lookup = await self._prepare(principal, call)
        headers = ticket.headers if ticket else {}
        if lookup.answer is not None:
            body, charge = self._serve_hit(metered, ticket, call, lookup)
            return Completed(body, CACHE_DEPLOYMENT, charge.cost_micros, 0.0, {**headers, **lookup.headers()})
        sent: list[str] = []
        sending = self.router.complete(call.model, call.op, call.raw, traits, sent.append)
        answer = await self.routed(metered, ticket, sending, functools.partial(self._abandoned, call, sent))
        # The deployment that answered (after any fallback) is the one recorded and named.
        deployment = answer.route.deployment
        metered.answer_id = answer_id_of(answer.body)
        usage = answer.body.get("usage")
        if not isinstance(usage, dict):  # counted here, as a stream without a usage chunk is
            usage = answer.body["usage"] = counted_usage(call.op, answer.body, self._prompt_tokens(call), self.tokens)
        charge = self.finish(metered, ticket, deployment, 200, Outcome.OK, usage)
        if self.cache is not None:
            self.cache.keep(lookup, answer.body)
        usage["cost"] = usd(charge.cost_micros)
        return Completed(answer.body, deployment, charge.cost_micros, answer.upstream_seconds, headers)

    async def stream(self, principal: Principal, call: Call) -> Streaming:
        traits, metered, ticket, lookup = await self._prepare(principal, call)
        if lookup.answer is not None:
            body, _ = self._serve_hit(metered, ticket, call, lookup)
            events = replay.replay(body, call.op, wants_usage=call.wants_usage)
            return Streaming(events, CACHE_DEPLOYMENT, 0.0, {**(ticket.headers if ticket else {}), **lookup.headers()})
        if lookup.following is not None:  # an identical stream is in flight: replay it as it arrives
            settle = functools.partial(self._followed, metered, ticket, call.model)
            events = live.replay(
                lookup.following, call.op, call.request_id, call.model, wants_usage=call.wants_usage, settle=settle
            )
            return Streaming(events, CACHE_DEPLOYMENT, 0.0, {**(ticket.headers if ticket else {}), **lookup.headers()})
        sent: list[str] = []
        sending = self.router.open_stream(call.model, call.op, call.raw, traits, sent.append)
        opened = await self.routed(metered, ticket, sending, functools.partial(self._abandoned, call, sent))
        route, chunks = opened.route, opened.chunks
        metered.answer_id = answer_id_of(opened.first)
        finish: relay.Finish = functools.partial(self.finish, metered, ticket, route.deployment)
        if self.cache is not None:
            chunks, finish = self.cache.watch_stream(lookup, chunks, opened.first, finish)
        if call.op is Operation.RESPONSES:  # passed through: its own events (gateway/routing/responses_relay.py)
            passed = ResponsesRelay(
                route,
                chunks,
                opened.first,
                tokens=self.tokens,
                prompt_tokens=lambda: self._prompt_tokens(call),
                finish=finish,
                started=call.started,
            )
            return Streaming(passed, route.deployment, opened.upstream_seconds, ticket.headers if ticket else {})
        stream = relay.StreamRelay(
            route,
            call.op,
            chunks,
            opened.first,
            wants_usage=call.wants_usage,
            tokens=self.tokens,
            prompt_tokens=lambda: self._prompt_tokens(call),
            finish=finish,
            started=call.started,
        )
        return Streaming(stream, route.deployment, opened.upstream_seconds, ticket.headers if ticket else {})

    def _followed(
        self, metered: Metered, ticket: Ticket | None, model: str, status: int, outcome: Outcome, usage: JSON | None
    ) -> Decimal:
        """Meter a stream that replayed an identical one in flight: a hit on its usage when it ended well."""
        assert self.cache is not None
        charge = self.meter.record(
            metered, deployment=CACHE_DEPLOYMENT, status=status, outcome=outcome, usage=usage, cache_status="hit"
        )
        self.admission.settle(ticket, 0, charge.cost_micros, failed=outcome is not Outcome.OK)
        self.cache.saved(model, charge.saved_micros)
        return usd(charge.cost_micros)

    def _abandoned(self, call: Call, sent: list[str]) -> Abandoned | None:
        """The request was cancelled (its client left, or shutdown's grace ran out) before any answer.
        Sent to an upstream (``sent``: the deployments tried), its prompt is billed, as a cut stream's
        is, against the last one; the answer it never got is not. Still waiting in a pool's queue, it
        is billed nothing. The reservation settles now, its lease with it. A call run again when
        cancelled (a batch line) records nothing: its re-run is metered under the same id."""
        if call.rerun_if_cancelled:
            return None
        if not sent:
            return None, None, NO_MEDIA
        prompt = self._prompt_tokens(call)
        return sent[-1], {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}, NO_MEDIA

    def _prompt_tokens(self, call: Call) -> int:
        if call.op is Operation.CHAT:
            return self.tokens.count_chat(call.raw.get("messages") or [])
        if call.op is Operation.EMBEDDINGS:
            return self.tokens.count_prompt(call.raw.get("input"))
        if call.op is Operation.RESPONSES:  # an estimate for admission: the input's and instructions' text
            return self.tokens.count(json.dumps([call.raw.get("instructions"), call.raw.get("input")]))
        return self.tokens.count_prompt(call.raw.get("prompt"))

    def _reserved_output(self, call: Call) -> int:
        if call.op is Operation.EMBEDDINGS:
            return 0
        raw: dict[str, Any] = call.raw
        per_choice = (
            raw.get("max_completion_tokens")
            or raw.get("max_tokens")
            or raw.get("max_output_tokens")
            or self._reserve_output_tokens
        )
        return int(per_choice) * int(raw.get("n") or 1)
