"""Request metrics added up between scrapes: a scrape reads exactly what observing each request would."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Histogram

from gateway.metering.record import UsageRecord
from gateway.metrics import LATENCY_BUCKETS, Metrics
from gateway.observability.requests import RequestObserver
from gateway.observability.tally import Distribution

# Below the first bound, on bounds (a value equal to a bound is in that bucket), between, past the last.
VALUES = [0.0, 0.001, 0.005, 0.0050001, 0.01, 0.3, 1.0, 2.5, 7.0, 299.9, 300.0, 301.0, 1e9]


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    """What a scrape shows, less the creation times."""
    found = [(s.name, s.labels, s.value) for family in registry.collect() for s in family.samples]
    return [sample for sample in found if not sample[0].endswith("_created")]


def _histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("latency_seconds", "Latency.", ["route"], buckets=LATENCY_BUCKETS, registry=registry)


def test_a_flushed_distribution_renders_as_observing_each_value_would() -> None:
    observed, tallied = CollectorRegistry(), CollectorRegistry()
    each, bulk = _histogram(observed).labels("a"), _histogram(tallied).labels("a")
    distribution = Distribution(bulk)
    for value in VALUES:
        each.observe(value)
        distribution.observe(value)
    distribution.flush()
    assert _samples(tallied) == _samples(observed)
    for value in VALUES[:3]:  # and again after a flush: nothing is counted twice
        each.observe(value)
        distribution.observe(value)
    distribution.flush()
    distribution.flush()
    assert _samples(tallied) == _samples(observed)


def _record(status: int = 200, ttft_ms: float | None = None, cost_micros: int = 1234) -> UsageRecord:
    return UsageRecord(
        request_id="req_1",
        created_at=time.time(),
        customer_id=1,
        api_key_id=1,
        model="m",
        deployment="d",
        endpoint="chat/completions",
        streamed=ttft_ms is not None,
        status=status,
        outcome="ok",
        input_tokens=10,
        output_tokens=5,
        latency_ms=12.5,
        ttft_ms=ttft_ms,
        cost_micros=cost_micros,
    )


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_scrape_counts_every_request_answered_before_it() -> None:
    metrics = Metrics()
    observer = RequestObserver(metrics, None, None)
    for _ in range(3):
        observer.metered(_record(), "c")
    observer.metered(_record(ttft_ms=40.0), "c")
    observer.refused("req_2", "/v1/chat/completions", 401, "invalid_api_key", 0.002)
    observer.answer_started(0.0003)
    metrics.render()  # a scrape: it flushes first
    series = {"model": "m", "deployment": "d", "status": "200"}
    assert _sample(metrics, "tollgate_requests_total", **series) == 4
    assert _sample(metrics, "tollgate_request_duration_seconds_bucket", **series, le="0.025") == 4
    assert _sample(metrics, "tollgate_request_duration_seconds_bucket", **series, le="0.01") == 0
    assert _sample(metrics, "tollgate_time_to_first_token_seconds_count", model="m", deployment="d") == 1
    assert _sample(metrics, "tollgate_tokens_total", model="m", direction="input") == 40
    assert _sample(metrics, "tollgate_cost_usd_total", model="m") == 0.004936
    assert _sample(metrics, "tollgate_requests_total", model="", deployment="", status="401") == 1
    assert _sample(metrics, "tollgate_overhead_seconds_count") == 1
    observer.metered(_record(), "c")  # counted after the scrape: in the next one, once
    assert _sample(metrics, "tollgate_requests_total", **series) == 4
    metrics.render()
    assert _sample(metrics, "tollgate_requests_total", **series) == 5
    assert _sample(metrics, "tollgate_tokens_total", model="m", direction="output") == 25


def test_with_several_workers_each_request_reaches_the_shared_values_at_once(tmp_path: object) -> None:
    metrics = Metrics(multiprocess_dir=str(tmp_path))  # another worker's scrape reads the values, not this render
    observer = RequestObserver(metrics, None, None)
    observer.metered(_record(), "c")
    observer.answer_started(0.0003)
    labels = {"model": "m", "deployment": "d", "status": "200"}
    assert _sample(metrics, "tollgate_requests_total", **labels) == 1.0
    assert _sample(metrics, "tollgate_request_duration_seconds_count", **labels) == 1.0
    assert _sample(metrics, "tollgate_overhead_seconds_count") == 1.0
