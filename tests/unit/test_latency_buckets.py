"""Percentiles read off hourly latency histograms stay within the buckets' ±9%."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway.metering.latency_buckets import bucket_of, bucket_value, percentile


def histogram(values: list[float]) -> Counter[int]:
    return Counter(bucket_of(value) for value in values)


@pytest.mark.parametrize("true_value", [1.5, 12.0, 99.0, 400.0, 2_500.0, 61_000.0])
def test_a_bucket_stands_for_its_values_within_nine_percent(true_value: float) -> None:
    assert abs(bucket_value(bucket_of(true_value)) / true_value - 1) < 0.095


def test_p50_and_p99_of_a_thousand_requests() -> None:
    latencies = [float(ms) for ms in range(1, 1001)]  # 1 ms .. 1000 ms

    counts = histogram(latencies)

    assert percentile(counts, 0.5) == pytest.approx(500, rel=0.095)
    assert percentile(counts, 0.99) == pytest.approx(990, rel=0.095)


def test_histograms_of_two_hours_add_up_to_the_histogram_of_both() -> None:
    fast, slow = [10.0] * 90, [800.0] * 10
    together = histogram(fast) + histogram(slow)

    assert percentile(together, 0.5) == pytest.approx(10, rel=0.095)
    assert percentile(together, 0.99) == pytest.approx(800, rel=0.095)


def test_nothing_counted_has_no_percentile_and_sub_millisecond_requests_count() -> None:
    assert percentile({}, 0.5) is None
    assert percentile(histogram([0.2, 0.4]), 0.5) is not None
