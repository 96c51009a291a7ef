"""Pricing a finished request and writing its one usage record to the journal."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.auth.principal import Principal
from gateway.metering.journal import Journal
from gateway.metering.pricing import PriceBook, to_micros, token_cost_usd
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


@dataclass(frozen=True, slots=True)
class Charge:
    usage: TokenUsage
    cost_micros: int


class Meter:
    def __init__(self, journal: Journal | None, price_book: PriceBook) -> None:
        self.journal = journal  # None: usage is priced but not recorded (``meter_usage: false``)
        self.price_book = price_book

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
        outcome: str,
        usage: dict[str, Any] | None,
        ttft: float | None = None,
        cache_status: str = "miss",
    ) -> Charge:
        """Price and journal the request, exactly once; upstream failures are recorded at no cost."""
        if metered.recorded:
            raise RuntimeError(f"request {metered.request_id} was metered twice")
        metered.recorded = True
        tokens = normalise(usage)
        book = self.price_book
        rates = book.rates(metered.model)
        billable = outcome in ("ok", "client_disconnect")
        cost = to_micros(token_cost_usd(rates, tokens), metered.principal.markup_percent) if rates and billable else 0
        record = UsageRecord(
            request_id=metered.request_id,
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
            latency_ms=(time.perf_counter() - metered.started) * 1000,
            ttft_ms=None if ttft is None else ttft * 1000,
            cache_status=cache_status,
            cost_micros=cost,
            price_book_version=book.version,
        )
        if self.journal is not None:
            self.journal.append(record)
        return Charge(tokens, cost)
