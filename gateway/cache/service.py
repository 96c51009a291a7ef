"""The response cache the pipeline calls: one lookup before routing, one store after a complete answer.

Exact first (the canonical key of the whole request), then semantic (inside the exact scope
without the last user turn, the matcher compares that turn by meaning). Entries are scoped to the
authenticated customer, so one customer never sees, nor times, another's answers; a model's config
may share them across customers explicitly. The cache never fails a request: when its store cannot
be reached (or fails in any way), the request is a miss and a metric counts the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from backends.base import JSON, Operation
from gateway.cache.flights import Flight, Flights, follow
from gateway.cache.keys import CacheKeys, keys_for, tenant_of
from gateway.cache.live import Published
from gateway.cache.policy import DEFAULT_CONTROLS, Controls, cacheable_request, complete_answer, ttl_for
from gateway.cache.recorder import StreamRecorder
from gateway.cache.store import EntryStore
from gateway.cache.verifier import Verifier, answer_text
from gateway.core.throttled_log import ThrottledLog
from gateway.keys.principal import Principal
from gateway.metering.outcome import Outcome
from gateway.metrics import Metrics
from gateway.settings import ModelCache

if TYPE_CHECKING:
    from gateway.cache.sync import SemanticSync

log = logging.getLogger("tollgate.cache")

# The deployment a cache hit names in ``x-tollgate-backend`` and its usage event.
CACHE_DEPLOYMENT = "cache"

Charged = TypeVar("Charged")
_encode = msgspec.json.Encoder(decimal_format="number").encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass(slots=True)
class Lookup:
    """One request's cache lookup: its keys, and the answer found (``status`` hit or semantic)."""

    op: Operation
    config: ModelCache | None = None
    controls: Controls = DEFAULT_CONTROLS
    keys: CacheKeys | None = None
    answer: JSON | None = None
    status: str = "miss"
    similarity: float | None = None
    ttl_seconds: int = 0  # how long the answer is kept if it is stored
    model: str = ""
    broken: bool = False  # the store failed: served as a miss, no semantic search
    flight: Flight | None = None  # the request leads identical ones in flight (gateway/cache/flights.py)
    following: Flight | None = None  # a streamed request replaying an identical stream in flight
    streamed: bool = False

    @property
    def storable(self) -> bool:
        return self.keys is not None and self.controls.write

    def headers(self) -> dict[str, str]:
        """Response headers for a hit (a miss keeps the route's ``x-tollgate-cache: miss``)."""
        if self.answer is None and self.following is None:
            return {}
        headers = {"x-tollgate-cache": self.status}
        if self.similarity is not None:
            headers["x-tollgate-cache-similarity"] = f"{self.similarity:.4f}"
        return headers


class ResponseCache:
    def __init__(
        self,
        models: dict[str, ModelCache],
        entries: EntryStore,
        semantic: SemanticSync | None,
        metrics: Metrics,
        *,
        max_ttl_seconds: int,
        verifier: Verifier | None = None,
    ) -> None:
        self._verifier = verifier  # the models' cache.verifier judges (gateway/cache/verifier.py)
        self._models = models
        self.entries = entries
        self._semantic = semantic
        self._metrics = metrics
        self._max_ttl = max_ttl_seconds
        self._pending: set[asyncio.Task[None]] = set()
        self._flights = Flights()
        self._warnings = ThrottledLog(log)  # a store that is down fails every request: once per 30 s

    def covers(self, model: str) -> bool:
        """Whether the model has a cache at all."""
        return model in self._models

    async def lookup(self, principal: Principal, op: Operation, model: str, raw: JSON, controls: Controls) -> Lookup:
        """Exact, then semantic. The two halves are public for a caller that runs the exact one beside
        other work (the admission of a limited key: one Redis round trip for both) and the semantic
        one, an embedding, only once the request is admitted."""
        return await self.lookup_rest(await self.lookup_exact(principal, op, model, raw, controls))

    async def lookup_exact(
        self, principal: Principal, op: Operation, model: str, raw: JSON, controls: Controls
    ) -> Lookup:
        config = self._models.get(model)
        if config is None or not cacheable_request(op, raw, config, key_opts_in=principal.cache_nondeterministic):
            return Lookup(op)
        tenant = tenant_of(principal.customer_id, config.shared_across_customers)
        ttl = ttl_for(config, controls, principal.cache_ttl_seconds, self._max_ttl)
        keys = keys_for(tenant, model, op, raw)
        lookup = Lookup(op, config, controls, keys, ttl_seconds=ttl, model=model, streamed=bool(raw.get("stream")))
        if controls.read and config.exact:
            try:
                if await self._load(lookup, keys.exact):
                    lookup.status = "hit"
            except Exception as exc:  # an optional component: a broken cache serves misses
                self._broken(lookup, exc)
        return lookup

    async def lookup_rest(self, lookup: Lookup) -> Lookup:
        """The semantic search when the exact lookup missed; the lookup is counted here, once."""
        if lookup.config is None or not lookup.controls.read:
            return lookup
        if lookup.status == "miss" and not lookup.broken:
            try:
                await self._find_semantic(lookup, lookup.config)
            except Exception as exc:
                self._broken(lookup, exc)
        if lookup.status == "miss" and lookup.keys is not None and lookup.config.exact:
            await self._board(lookup, lookup.keys)
        self._metrics.cache_lookups.labels(lookup.model, lookup.status).inc()
        return lookup

    async def _board(self, lookup: Lookup, keys: CacheKeys) -> None:
        """Single-flight: follow an identical request in flight, served its answer as a hit; or lead
        one, when this request's answer may be stored (its landing is :meth:`keep`'s)."""
        flight, leads = self._flights.board(keys.exact, streaming=lookup.streamed)
        if leads:
            if lookup.storable:
                lookup.flight = flight
            else:  # its answer will not be kept, so none may wait on it (none could join yet)
                self._flights.land(flight, None)
            return
        if lookup.streamed and flight.streaming:  # replayed as it arrives (gateway/cache/live.py)
            lookup.following, lookup.status = flight, "hit"
            return
        answer = await follow(flight)
        if answer is not None:
            lookup.answer, lookup.status = answer, "hit"

    def _broken(self, lookup: Lookup, exc: Exception) -> None:
        lookup.answer, lookup.status, lookup.similarity, lookup.broken = None, "miss", None, True
        self._failed("lookup", exc)

    async def _find_semantic(self, lookup: Lookup, config: ModelCache) -> None:
        keys = lookup.keys
        assert keys is not None
        if self._semantic is None or not config.semantic or keys.semantic_scope is None:
            return
        assert keys.last_user_turn is not None
        # A row whose entry expired or was purged is forgotten, and the next best candidate tried.
        for _ in range(3):
            found = await self._semantic.match(
                keys.semantic_scope,
                keys.last_user_turn,
                config.similarity_threshold,
                cross_encoder=config.cross_encoder,
                accept=config.cross_encoder_accept,
            )
            if found is None:
                return
            entry_id, similarity = found
            if await self._load(lookup, entry_id):
                if not await self._judged(lookup, config, entry_id):
                    lookup.answer = None  # the judge said no (or nothing): a miss
                    return
                lookup.status, lookup.similarity = "semantic", similarity
                return
            await self._semantic.forget(keys.semantic_scope, entry_id)

    async def _judged(self, lookup: Lookup, config: ModelCache, entry_id: str) -> bool:
        """Whether the model's judge, if it has one, says the candidate's answer answers this question."""
        if config.verifier is None:
            return True
        keys, semantic = lookup.keys, self._semantic
        assert keys is not None and keys.semantic_scope and keys.last_user_turn and semantic is not None
        question = await semantic.question(keys.semantic_scope, entry_id)
        text = None if lookup.answer is None else answer_text(lookup.answer)
        if self._verifier is None or question is None or text is None:
            return False
        return await self._verifier.confirms(config.verifier, question, text, keys.last_user_turn)

    async def _load(self, lookup: Lookup, key: str) -> bool:
        stored = await self.entries.get(key)
        if stored is not None:
            lookup.answer = _decode(stored)
        return stored is not None

    def keep(self, lookup: Lookup, body: JSON) -> None:
        """Store a complete answer in the background; the body is encoded now, before the caller
        adds this request's cost to it."""
        if not lookup.storable or not complete_answer(lookup.op, body):
            self._land(lookup, None)
            return
        value = _encode(body)
        self._land(lookup, value)
        self._spawn(self._store(lookup, value))

    def _land(self, lookup: Lookup, value: bytes | None) -> None:
        """Hand the answer to the requests following this one (a copy: the caller adds its cost)."""
        flight = lookup.flight
        if flight is not None:
            wanted = value is not None and flight.followers > 0
            self._flights.land(flight, _decode(value) if wanted and value is not None else None)

    def watch_stream(
        self,
        lookup: Lookup,
        chunks: AsyncIterator[JSON],
        first: JSON,
        finish: Callable[[int, Outcome, JSON | None, float | None], Charged],
    ) -> tuple[AsyncIterator[JSON], Callable[[int, Outcome, JSON | None, float | None], Charged]]:
        """Record a stream as it is relayed; store its answer if the upstream ended it normally."""
        if not lookup.storable:
            return chunks, finish
        recorder = StreamRecorder(lookup.op, chunks, first)
        flight = lookup.flight

        def finished(status: int, outcome: Outcome, usage: JSON | None, ttft: float | None) -> Charged:
            charge = finish(status, outcome, usage, ttft)
            if flight is not None and outcome == Outcome.OK and usage:
                flight.usage = {k: v for k, v in usage.items() if k != "cost"}
            answer = recorder.answer(usage) if outcome == Outcome.OK else None
            if answer is not None:
                self.keep(lookup, answer)
            self._land(lookup, None)  # no answer kept: its followers go upstream themselves
            return charge

        return (recorder if flight is None else Published(recorder, flight, first)), finished

    def saved(self, model: str, micros: int) -> None:
        if micros:
            self._metrics.cache_savings_usd.labels(model).inc(micros / 1_000_000)

    async def _store(self, lookup: Lookup, value: bytes) -> None:
        keys, config = lookup.keys, lookup.config
        assert keys is not None and config is not None
        try:
            await self.entries.put(keys.exact, value, lookup.ttl_seconds)
            if self._semantic is not None and config.semantic and keys.semantic_scope and keys.last_user_turn:
                await self._semantic.remember(keys.semantic_scope, keys.exact, keys.last_user_turn)
        except Exception as exc:
            self._failed("store", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self._metrics.cache_errors.inc()
        self._warnings.warning("response cache %s failed (served as a miss): %r", what, exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settled(self) -> None:
        """Wait for the stores in flight (tests, and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def purge(self, customer_id: int | None, model: str | None) -> int:
        """Delete the entries of one customer and/or one model (entries shared across customers
        belong to no customer: purge them by model)."""
        tenant = None if customer_id is None else tenant_of(customer_id, shared=False)
        return await self.entries.purge(tenant, model)

    async def follow(self) -> None:
        """Keep this replica's semantic index in step with the others (a lifespan task)."""
        if self._semantic is not None:
            await self._semantic.follow()

    async def close(self) -> None:
        await self.settled()
        if self._semantic is not None:
            self._semantic.close()
