"""What serving a request cost the operator, in integer micro-dollars; never shown to customers.

- External backends: the provider's list prices, the model's ``cost`` block in the price book (the
  same fields as its ``pricing``), applied to the request's usage when the drain stores its event.
  Images are priced at the dearest size the block lists (the record keeps the count, not the size).
  Cache hits, and requests that were not billed (upstream errors, refusals), cost nothing to serve.
- Self-hosted pools: their GPU-hours, allocated per closed hour by :func:`allocate` (called by
  ``gateway/metering/pool_hours.py``), so that the requests' costs plus the idle rest add up exactly
  to the pool's bill for the hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from gateway.metering.media_units import AUTO, MediaUsage, media_cost_usd
from gateway.metering.outcome import BILLED
from gateway.metering.pricing import MICROS_PER_USD, ModelRates, to_micros, token_cost_usd
from gateway.metering.record import UsageRecord
from gateway.metering.usage import TokenUsage
from gateway.settings import Pricing

SECONDS_PER_HOUR = 3600


def cost_block(pricing: Pricing | None) -> dict[str, Any] | None:
    """The config's ``cost`` block as stored in ``model_prices.cost`` (decimals as strings)."""
    if pricing is None:
        return None
    stored: dict[str, Any] = msgspec.to_builtins(pricing)
    return stored


def cost_rates(stored: Mapping[str, Any]) -> ModelRates:
    """A stored ``cost`` block as rates; a pool's GPU-hour fields are not list prices and are dropped."""
    pricing = msgspec.convert(stored, Pricing, strict=False)
    return ModelRates(
        input_per_mtok=pricing.input_per_mtok,
        output_per_mtok=pricing.output_per_mtok,
        cached_input_per_mtok=pricing.cached_input_per_mtok,
        cache_write_per_mtok=pricing.cache_write_per_mtok,
        reasoning_per_mtok=pricing.reasoning_per_mtok,
        per_image=dict(pricing.per_image or {}),
        per_audio_second=pricing.per_audio_second,
        per_mchar=pricing.per_mchar,
    )


def list_cost_micros(rates: ModelRates, record: UsageRecord) -> int:
    """What the provider charges the operator for ``record``'s usage at its list prices."""
    if record.outcome not in BILLED or record.cache_status != "miss":
        return 0
    tokens = TokenUsage(
        input=record.input_tokens,
        cached_input=record.cached_input_tokens,
        cache_write=record.cache_write_tokens,
        output=record.output_tokens,
        reasoning=record.reasoning_tokens,
    )
    media = MediaUsage(
        images=record.images,
        image_size=AUTO,
        image_quality=AUTO,
        audio_seconds=record.audio_seconds,
        characters=record.characters,
    )
    return to_micros(token_cost_usd(rates, tokens) + media_cost_usd(rates, media))


def bill_micros(replica_seconds: float, gpu_hour_usd: Decimal) -> int:
    """A pool's bill: replica-seconds running at ``gpu_hour_usd`` per replica-hour, to the micro-dollar."""
    usd = Decimal(repr(replica_seconds)) * gpu_hour_usd / SECONDS_PER_HOUR
    return int((usd * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split(total: int, weights: Sequence[float | int]) -> list[int]:
    """``total`` micro-dollars in parts proportional to ``weights`` that add up to it exactly
    (largest remainder: each part rounded down, the micro-dollars left over go to the largest
    fractions, ties to the earlier part). All-zero weights split evenly."""
    if not weights:
        return []
    exact = [Decimal(repr(w)) if isinstance(w, float) else Decimal(w) for w in weights]
    whole = sum(exact)
    if whole <= 0:
        exact, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    shares = [total * w / whole for w in exact]
    parts = [int(share) for share in shares]  # total >= 0: int() rounds down
    left = total - sum(parts)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


class Allocation(msgspec.Struct, frozen=True):
    """One pool-hour: ``sum(costs) + idle_micros == bill_micros``."""

    bill_micros: int
    busy_seconds: float
    busy_source: str  # "vllm" when the engines' metrics said how busy the pool was, else "latency"
    costs: list[int]  # per request, in the order given
    idle_micros: int


def allocate(
    bill: int, replica_seconds: float, vllm_busy_seconds: float | None, busy_ms: Sequence[float], tokens: Sequence[int]
) -> Allocation:
    """Spread one pool-hour's ``bill`` over its requests and the idle rest.

    The pool was busy for ``vllm_busy_seconds`` (replica-seconds with requests running or waiting,
    from vLLM's ``/metrics``) when known, else for the sum of its requests' times on it (``busy_ms``);
    never more than it ran. That share of the bill is the requests', split by each one's share of the
    busy time (its ``busy_ms``), or by its share of the tokens when no time was measured; the rest is
    idle. A pool that served nothing is idle all the hour.
    """
    measured = sum(busy_ms) / 1000
    source = "vllm" if vllm_busy_seconds is not None else "latency"
    busy = min(replica_seconds, vllm_busy_seconds if vllm_busy_seconds is not None else measured)
    if not busy_ms or replica_seconds <= 0:
        return Allocation(bill, busy, source, [0] * len(busy_ms), bill)
    used = split(bill, [busy, replica_seconds - busy])[0]
    weights: Sequence[float | int] = busy_ms if measured > 0 else tokens
    costs = split(used, weights)
    return Allocation(bill, busy, source, costs, bill - sum(costs))
