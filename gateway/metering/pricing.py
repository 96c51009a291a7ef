"""Turning normalised usage into money: integer micro-dollars, never floats.

Token prices are dollars per million tokens, so one token at ``$P``/M costs exactly ``P``
micro-dollars; the sum is computed in ``Decimal`` and rounded half-up to a whole micro-dollar once
per request. A customer's markup (or discount) multiplies the total before rounding.

Self-hosted pools priced by the GPU-hour: every token, prompt or completion, costs
``gpu_hour_usd / tokens_per_gpu_hour`` — the GPU's hourly price spread over the tokens it serves in
an hour at its measured throughput.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import msgspec

from gateway.metering.usage import TokenUsage

MICROS_PER_USD = 1_000_000
_ONE = Decimal(1)


class ModelRates(msgspec.Struct, frozen=True):
    """One model's prices in one price-book version (dollars; tokens per million)."""

    input_per_mtok: Decimal = Decimal(0)
    output_per_mtok: Decimal = Decimal(0)
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    per_image: dict[str, Decimal] = {}
    per_audio_second: Decimal | None = None
    per_mchar: Decimal | None = None
    gpu_hour_usd: Decimal | None = None
    tokens_per_gpu_hour: int | None = None


class PriceBook(msgspec.Struct, frozen=True):
    version: int
    models: dict[str, ModelRates] = {}
    cache_hit_percent: Decimal = Decimal(0)
    # Lines of /v1/batches jobs cost this much less (gateway/batches/lines.py applies it).
    batch_discount_percent: Decimal = Decimal(50)

    def rates(self, model: str) -> ModelRates | None:
        return self.models.get(model)


def token_cost_usd(rates: ModelRates, usage: TokenUsage) -> Decimal:
    if rates.gpu_hour_usd is not None and rates.tokens_per_gpu_hour:
        return rates.gpu_hour_usd * usage.total / rates.tokens_per_gpu_hour
    per_million = (
        usage.input * rates.input_per_mtok
        + usage.cached_input * _or(rates.cached_input_per_mtok, rates.input_per_mtok)
        + usage.cache_write * _or(rates.cache_write_per_mtok, rates.input_per_mtok)
        + usage.output * rates.output_per_mtok
        + usage.reasoning * _or(rates.reasoning_per_mtok, rates.output_per_mtok)
    )
    return per_million / MICROS_PER_USD


def to_micros(usd: Decimal, markup_percent: Decimal = Decimal(0)) -> int:
    adjusted = usd * (_ONE + markup_percent / 100)
    return int((adjusted * MICROS_PER_USD).quantize(_ONE, rounding=ROUND_HALF_UP))


def hit_price(full_micros: int, hit_percent: Decimal) -> tuple[int, int]:
    """What a cache hit costs (``hit_percent`` of the full price, from the price book) and what it saved."""
    cost = int((full_micros * hit_percent / 100).quantize(_ONE, rounding=ROUND_HALF_UP))
    return cost, full_micros - cost


def format_usd(micros: int) -> str:
    """``1234`` micro-dollars is ``"0.001234"``: a decimal string, exact to the micro-dollar."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{fraction:06d}"


def usd(micros: int) -> Decimal:
    """Micro-dollars as an exact ``Decimal`` of dollars (encoded as a JSON number, never a float)."""
    return Decimal(micros).scaleb(-6)


def _or(price: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if price is None else price
