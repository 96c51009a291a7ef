"""Costs against hand-computed values: integer micro-dollars, normalised usage, never a float."""

from __future__ import annotations

from decimal import Decimal

from gateway.metering.pricing import ModelRates, format_usd, to_micros, token_cost_usd, usd
from gateway.metering.usage import TokenUsage, normalise

GPT = ModelRates(
    input_per_mtok=Decimal("2.50"), cached_input_per_mtok=Decimal("1.25"), output_per_mtok=Decimal("10.00")
)


def test_openai_usage_with_cached_and_reasoning_tokens() -> None:
    usage = normalise(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920},
            "completion_tokens_details": {"reasoning_tokens": 192},
        }
    )
    assert usage == TokenUsage(input=86, cached_input=1920, cache_write=0, output=108, reasoning=192)
    # 86 × 2.50 + 1920 × 1.25 + (108 + 192) × 10.00 = 215 + 2400 + 3000 = 5615 micro-dollars
    assert to_micros(token_cost_usd(GPT, usage)) == 5615


def test_anthropic_usage_with_cache_reads_and_writes() -> None:
    # Anthropic said: input_tokens 100, cache_read 5000, cache_creation 2000, output 250; the backend
    # folds reads and writes into prompt_tokens and keeps the write count.
    usage = normalise(
        {
            "prompt_tokens": 7100,
            "completion_tokens": 250,
            "total_tokens": 7350,
            "prompt_tokens_details": {"cached_tokens": 5000},
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 5000,
        }
    )
    assert usage == TokenUsage(input=100, cached_input=5000, cache_write=2000, output=250)
    sonnet = ModelRates(
        input_per_mtok=Decimal(3),
        cached_input_per_mtok=Decimal("0.30"),
        cache_write_per_mtok=Decimal("3.75"),
        output_per_mtok=Decimal(15),
    )
    # 100 × 3 + 5000 × 0.30 + 2000 × 3.75 + 250 × 15 = 300 + 1500 + 7500 + 3750 = 13050
    assert to_micros(token_cost_usd(sonnet, usage)) == 13050


def test_usage_counts_an_upstream_got_wrong_are_never_billed() -> None:
    """Booleans, negatives, floats, strings and nulls count as none; parts never exceed their whole."""
    assert normalise({"prompt_tokens": True, "completion_tokens": -5}) == TokenUsage()
    assert normalise({"prompt_tokens": 10.0, "completion_tokens": "7", "prompt_tokens_details": None}) == TokenUsage()
    usage = normalise(
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 150},
            "cache_creation_input_tokens": 30,
            "completion_tokens_details": {"reasoning_tokens": 25},
        }
    )
    assert usage == TokenUsage(input=0, cached_input=100, cache_write=0, output=0, reasoning=20)
    assert normalise({"prompt_tokens": 100, "cache_creation_input_tokens": 150}) == TokenUsage(cache_write=100)


def test_vllm_pool_priced_by_gpu_hour() -> None:
    # An H100 at $2.00 per GPU-hour serving 4,000,000 tokens an hour: $0.0000005 per token.
    pool = ModelRates(gpu_hour_usd=Decimal("2.00"), tokens_per_gpu_hour=4_000_000)
    usage = normalise({"prompt_tokens": 1200, "completion_tokens": 800})
    # 2000 tokens × 2.00 / 4,000,000 = $0.001 = 1000 micro-dollars
    assert to_micros(token_cost_usd(pool, usage)) == 1000


def test_markup_discount_and_rounding_half_up() -> None:
    cheap = ModelRates(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))
    usage = TokenUsage(input=10, output=5)  # 1.5 + 3.0 = 4.5 micro-dollars
    assert to_micros(token_cost_usd(cheap, usage)) == 5
    assert to_micros(token_cost_usd(cheap, usage), Decimal(10)) == 5  # 4.95 → 5
    assert to_micros(token_cost_usd(GPT, TokenUsage(input=1000)), Decimal(-20)) == 2000


def test_missing_prices_fall_back_to_the_base_rate() -> None:
    plain = ModelRates(input_per_mtok=Decimal(1), output_per_mtok=Decimal(4))
    usage = TokenUsage(input=1, cached_input=1, cache_write=1, output=1, reasoning=1)
    assert to_micros(token_cost_usd(plain, usage)) == 1 + 1 + 1 + 4 + 4


def test_normalise_never_goes_negative_on_inconsistent_usage() -> None:
    usage = normalise(
        {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 50},
            "completion_tokens_details": {"reasoning_tokens": 9},
        }
    )
    assert usage == TokenUsage(input=0, cached_input=10, output=0, reasoning=2)
    assert normalise(None) == TokenUsage() and normalise({"prompt_tokens": "7"}) == TokenUsage()


def test_money_formats() -> None:
    assert format_usd(1234) == "0.001234" and format_usd(12_000_001) == "12.000001" and format_usd(0) == "0.000000"
    assert usd(1234) == Decimal("0.001234")
