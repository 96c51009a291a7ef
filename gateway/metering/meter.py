"""Pricing a finished request and writing its one usage record to the journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.keys.principal import Principal
from gateway.metering.journal import Journal
from gateway.metering.media_units import NO_MEDIA, MediaUsage, media_cost_usd
from gateway.metering.outcome import BILLED, Outcome
from gateway.metering.pricing import PriceBook, hit_price, to_micros, token_cost_usd
from gateway.metering.record import UsageRecord
from gateway.metering.usage import TokenUsage, normalise


@dataclass(slots=True)
class Metered:
    """One request being metered: who, what, and since when."""

    request_id: str
    principal: Principal
    model: str
    endpoint: str
    streamed: bool
    started: float  # perf_counter
    started_at: float  # Unix time
    recorded: bool = False
    answer_id: str | None = None  # the id in the answer's body, once it has arrived
    # Where set (a batch line's try), the id a failure (an outcome not billed) is recorded under instead
    # of ``request_id``: that id is kept for the answer, and a no-cost record there would shadow it.
    failure_id: str | None = None


class Charge(msgspec.Struct, frozen=True):
    usage: TokenUsage
    cost_micros: int
    saved_micros: int = 0


# Told of every record once it is journaled, with the customer's name (metrics, access log, traces).
RecordObserver = Callable[[UsageRecord, str], None]


class Meter:
    def __init__(self, journal: Journal | None, price_book: PriceBook, observe: RecordObserver | None = None) -> None:
        self.journal = journal  # None: usage is priced but not recorded (``meter_usage: false``)
        self.price_book = price_book
        self._observe = observe

    def check_recording(self) -> None:
        """Refuse (503) a request whose usage could not be recorded, before it is sent anywhere."""
        if self.journal is not None:
            self.journal.check_writable()

    def use_price_book(self, book: PriceBook) -> None:
        self.price_book = book

    def record(
        self,
        metered: Metered,
        *,
        deployment: str | None,
        status: int,
        outcome: Outcome,
        usage: dict[str, Any] | None,
        ttft: float | None = None,
        cache_status: str = "miss",
        media: MediaUsage = NO_MEDIA,
    ) -> Charge:
        """Price and journal the request, exactly once; upstream failures are recorded at no cost,
        cache hits (``cache_status`` hit or semantic) at the price book's hit price. ``media`` carries
        the images, audio seconds and speech characters of the media endpoints. A failure (an
        outcome not billed) of a request with a ``failure_id`` is recorded under that id."""
        if metered.recorded:
            raise RuntimeError(f"request {metered.request_id} was metered twice")
        metered.recorded = True
        tokens = normalise(usage)
        book = self.price_book
        rates = book.rates(metered.model)
        billable = outcome in BILLED
        cost = 0
        if rates and billable:
            usd = token_cost_usd(rates, tokens) + media_cost_usd(rates, media)
            cost = to_micros(usd, metered.principal.markup_percent)
        saved = 0
        if cache_status != "miss":
            cost, saved = hit_price(cost, book.cache_hit_percent)
        request_id = metered.request_id
        if not billable and metered.failure_id is not None:
            request_id = metered.failure_id
        record = UsageRecord(
            request_id=request_id,
            created_at=metered.started_at,
            customer_id=metered.principal.customer_id,
            api_key_id=metered.principal.key_id,
            model=metered.model,
            deployment=deployment,
            endpoint=metered.endpoint,
            streamed=metered.streamed,
            status=status,
            outcome=outcome,
            input_tokens=tokens.input,
            cached_input_tokens=tokens.cached_input,
            cache_write_tokens=tokens.cache_write,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
            images=media.images,
            audio_seconds=media.audio_seconds,
            characters=media.characters,
            latency_ms=(time.perf_counter() - metered.started) * 1000,
            ttft_ms=None if ttft is None else ttft * 1000,
            cache_status=cache_status,
            cost_micros=cost,
            saved_micros=saved,
            price_book_version=book.version,
            answer_id=metered.answer_id,
        )
        if self.journal is not None:
            self.journal.append(record)
        if self._observe is not None:
            self._observe(record, metered.principal.customer_name)
        return Charge(tokens, cost, saved)
