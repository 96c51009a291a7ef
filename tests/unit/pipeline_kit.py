"""A pipeline built in-process around a fake backend: the real router, meter, admission (its
in-memory store) and tokenizer, with no server, no Redis and no database.

The fake speaks the ``Backend`` protocol; ``Kit.records`` holds every usage record the meter wrote
and ``Kit.settled`` every reservation the admission store settled, so tests assert what a user and
the ledger would see.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from backends.base import JSON, BackendContext, Form, Operation, Payload
from gateway.admission.memory import MemoryStore
from gateway.admission.rules import Ask, Credit, ScopeLimits
from gateway.admission.service import Admission
from gateway.core.errors import TollgateError
from gateway.generation.pipeline import Call, Pipeline
from gateway.keys.cache import KeyCache
from gateway.keys.principal import Principal
from gateway.metering.meter import Meter
from gateway.metering.pricing import ModelRates, PriceBook
from gateway.metering.record import UsageRecord
from gateway.metrics import Metrics
from gateway.routing import table as routing_table
from gateway.routing.router import Router
from gateway.settings import load_settings
from gateway.tokens import Tokenizer

CONFIG = """
backends:
  sim: {type: simulator}
models:
  - {name: m, deployments: [{backend: sim, model: up}]}
  - {name: voice, kind: speech, deployments: [{backend: sim, model: tts}]}
  - {name: vectors, kind: embeddings, deployments: [{backend: sim, model: emb}], batching: {max_wait_ms: 1000}}
"""
# $2 and $8 a million tokens: 2 micro-dollars a prompt token, 8 an answer token; speech 15 a character.
BOOK = PriceBook(
    version=7,
    models={
        "m": ModelRates(input_per_mtok=Decimal(2), output_per_mtok=Decimal(8)),
        "voice": ModelRates(per_mchar=Decimal(15)),
        "vectors": ModelRates(input_per_mtok=Decimal(2)),
    },
)
MESSAGES = [{"role": "user", "content": "Say hello"}]
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


def answer(usage: JSON | None = USAGE) -> JSON:
    body: JSON = {
        "id": "a1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(content: str, finish: str | None = None) -> JSON:
    delta = {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [choice]}


def usage_chunk(usage: JSON = USAGE) -> JSON:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [], "usage": usage}


class FakeBackend:
    """The ``Backend`` and ``MediaBackend`` protocols in process: answers ``body``, streams ``chunks``
    (raising ``error`` after ``fail_after`` of them) or speaks ``audio``, or raises ``error``; ``hold``
    keeps a request waiting until set."""

    name = "sim"

    def __init__(
        self,
        *,
        body: JSON | None = None,
        chunks: Sequence[JSON] = (),
        error: TollgateError | None = None,
        fail_after: int = 0,
        hold: asyncio.Event | None = None,
        speech: Sequence[bytes] = (b"ID3", b"audio"),
    ) -> None:
        self.body, self.chunks, self.error, self.fail_after, self.hold = body, chunks, error, fail_after, hold
        self.speech = speech
        self.sent: list[JSON] = []
        self.closed = False

    def supports(self, op: Operation) -> bool:
        return True

    async def request(self, op: Operation, body: JSON) -> JSON:
        self.sent.append(body)
        if self.hold is not None:
            await self.hold.wait()
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.body or answer())

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        self.sent.append(body)
        try:
            for n, item in enumerate(self.chunks):
                if self.error is not None and n == self.fail_after:
                    raise self.error
                yield copy.deepcopy(item)
                if self.hold is not None:
                    await self.hold.wait()
        finally:
            self.closed = True

    async def audio(self, op: Operation, body: JSON) -> AsyncIterator[bytes]:
        self.sent.append(body)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.error is not None:
                raise self.error
            for piece in self.speech:
                yield piece
        finally:
            self.closed = True

    async def upload(self, op: Operation, form: Form) -> Payload:
        raise AssertionError("no uploads in these tests")

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


@dataclass(slots=True)
class RecordingStore(MemoryStore):
    """The in-memory admission store, remembering each settlement: (tokens used, cost used, failed)."""

    settled: list[tuple[int, int, bool]] = field(default_factory=list)

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
        self.settled.append((used_tokens, used_cost, failed))
        await MemoryStore.settle(self, scopes, credit, ask, used_tokens, used_cost, failed=failed)


async def _no_seed(*_: Any) -> Any:
    raise AssertionError("no budget or credit to seed in these tests")


@dataclass(slots=True)
class Kit:
    pipeline: Pipeline
    backend: FakeBackend
    store: RecordingStore
    records: list[UsageRecord]
    tokens: Tokenizer

    def call(self, *, stream: bool = False, wants_usage: bool = True, request_id: str = "req_1") -> Call:
        raw: JSON = {"model": "m", "messages": MESSAGES, "max_tokens": 50, "stream": stream}
        return Call(request_id, Operation.CHAT, "m", raw, stream, wants_usage, time.perf_counter())

    @property
    def prompt_tokens(self) -> int:
        return self.tokens.count_chat(MESSAGES)

    async def settled(self) -> list[tuple[int, int, bool]]:
        """The settlements, once admission's background settling has run."""
        for _ in range(5):
            await asyncio.sleep(0)
        return self.store.settled

    @property
    def holding(self) -> int:
        """Concurrency slots still held: zero once every request's reservation is given back."""
        return sum(len(held) for held in self.store.slots.values())


def principal(**limits: Any) -> Principal:
    """A key limited to one request at a time, so each request is admitted and settled."""
    return Principal(key_id=3, key_hash="h", customer_id=5, customer_name="acme", max_concurrency=1, **limits)


def build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: FakeBackend) -> Kit:
    """The pipeline as the gateway builds it, every deployment served by ``backend``."""
    path = tmp_path / "tollgate.yaml"
    path.write_text(CONFIG)
    settings = load_settings(path, {})
    monkeypatch.setattr(routing_table, "build_replicas", lambda name, config, ctx: [backend])
    tokens = Tokenizer()
    ctx = BackendContext(http=cast(Any, None), tokens=tokens)  # the fake needs no HTTP client
    metrics = Metrics()
    router = Router(routing_table.RoutingTable(settings, ctx, time.monotonic, None), settings.routing, metrics)
    records: list[UsageRecord] = []
    meter = Meter(None, BOOK, lambda record, customer: records.append(record))
    store = RecordingStore()
    admission = Admission(store, metrics, seed_budget=_no_seed, seed_credit=_no_seed, fail_open=False)
    keys = KeyCache(_no_seed)
    pipeline = Pipeline(router, keys, meter, tokens, admission, reserve_output_tokens=settings.reserve_output_tokens)
    return Kit(pipeline, backend, store, records, tokens)
