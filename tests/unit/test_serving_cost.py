"""Serving costs: list prices applied to a record, and a pool-hour's bill split to the micro-dollar."""

from __future__ import annotations

import random
from decimal import Decimal

from gateway.metering.serving_cost import allocate, bill_micros, cost_block, cost_rates, list_cost_micros, split
from gateway.settings import Pricing
from tests.support.usage_records import usage_record


def test_split_adds_up_exactly_whatever_the_weights() -> None:
    draw = random.Random(22)
    for _ in range(500):
        total = draw.randrange(0, 10_000_000)
        weights = [draw.choice([0, draw.random() * 1000, draw.randrange(1, 50)]) for _ in range(draw.randrange(1, 40))]
        parts = split(total, weights)
        assert sum(parts) == total and min(parts) >= 0
        whole = sum(weights)
        for part, weight in zip(parts, weights, strict=True):  # each within a micro-dollar of its exact share
            exact = total * weight / whole if whole else total / len(weights)
            assert abs(part - exact) < 1 + 1e-6


def test_split_gives_the_leftover_to_the_largest_remainders() -> None:
    assert split(10, [1, 1, 1]) == [4, 3, 3]
    assert split(100, [0.2, 0.3, 0.5]) == [20, 30, 50]
    assert split(7, [0, 0]) == [4, 3]
    assert split(5, []) == []


def test_a_pool_hour_is_its_requests_plus_idle() -> None:
    bill = bill_micros(5400.0, Decimal("3.10"))  # 1.5 replica-hours
    assert bill == 4_650_000
    shared = allocate(bill, 5400.0, 1800.0, [120.0, 480.5, 7.25], [10, 20, 30])
    assert sum(shared.costs) + shared.idle_micros == bill and shared.busy_source == "vllm"
    assert sum(shared.costs) == 1_550_000  # a third of the time it ran, it was busy
    assert shared.costs[1] > shared.costs[0] > shared.costs[2]


def test_without_metrics_the_requests_time_is_the_busy_time_and_tokens_split_untimed_requests() -> None:
    timed = allocate(3_600_000, 3600.0, None, [1000.0, 3000.0], [5, 5])
    assert (timed.busy_seconds, timed.busy_source, timed.costs, timed.idle_micros) == (
        4.0,
        "latency",
        [1000, 3000],
        3_596_000,
    )
    untimed = allocate(1_000_000, 3600.0, 1800.0, [0.0, 0.0], [1, 3])
    assert untimed.costs == [125_000, 375_000]


def test_an_idle_or_sleeping_pool() -> None:
    assert allocate(2_500_000, 3600.0, 0.0, [], []).idle_micros == 2_500_000
    asleep = allocate(bill_micros(0.0, Decimal("2.5")), 0.0, None, [10.0], [100])
    assert (asleep.bill_micros, asleep.costs, asleep.idle_micros) == (0, [0], 0)


def test_list_prices_of_tokens_images_and_audio() -> None:
    listed = Pricing(
        input_per_mtok=Decimal(3),
        output_per_mtok=Decimal(12),
        per_image={"1024x1024/standard": Decimal("0.04"), "1024x1024/hd": Decimal("0.08")},
        per_audio_second=Decimal("0.0001"),
    )
    rates = cost_rates(cost_block(listed) or {})
    assert list_cost_micros(rates, usage_record("t", input_tokens=1000, output_tokens=100)) == 4200
    assert list_cost_micros(rates, usage_record("i", images=2)) == 160_000  # the dearest listed size
    assert list_cost_micros(rates, usage_record("a", audio_seconds=12.3456)) == 1235
    assert list_cost_micros(rates, usage_record("hit", input_tokens=1000, cache_status="hit")) == 0
    assert list_cost_micros(rates, usage_record("x", input_tokens=1000, outcome="upstream_error")) == 0
