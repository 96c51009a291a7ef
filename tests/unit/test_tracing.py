"""A metered request becomes one OpenTelemetry span named and attributed after the GenAI conventions."""

from __future__ import annotations

import pytest

from gateway.metering.record import UsageRecord
from gateway.metrics import Metrics
from gateway.observability.requests import RequestObserver
from gateway.observability.tracing import Tracing

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402


def record(**overrides: object) -> UsageRecord:
    fields: dict[str, object] = {
        "request_id": "req_1",
        "created_at": 1_700_000_000.0,
        "customer_id": 7,
        "api_key_id": 9,
        "model": "gpt-fake",
        "deployment": "fake-openai",
        "endpoint": "chat/completions",
        "streamed": True,
        "status": 200,
        "outcome": "ok",
        "input_tokens": 11,
        "output_tokens": 7,
        "latency_ms": 250.0,
        "ttft_ms": 40.0,
        "cost_micros": 98,
    }
    fields.update(overrides)
    return UsageRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def traced() -> tuple[RequestObserver, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RequestObserver(Metrics(), None, Tracing(provider)), exporter


def test_a_request_is_one_client_span_with_gen_ai_attributes(
    traced: tuple[RequestObserver, InMemorySpanExporter],
) -> None:
    observer, exporter = traced
    observer.metered(record(), "acme")
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat gpt-fake" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-fake"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (11, 7)
    assert attributes["tollgate.cost_usd"] == "0.000098" and attributes["tollgate.customer"] == "acme"
    assert span.start_time == 1_700_000_000 * 10**9 and span.end_time == span.start_time + 250 * 10**6
    assert span.status.status_code is StatusCode.UNSET


def test_a_failed_request_is_an_error_span(traced: tuple[RequestObserver, InMemorySpanExporter]) -> None:
    observer, exporter = traced
    observer.metered(record(endpoint="embeddings", status=503, outcome="upstream_error"), "acme")
    (span,) = exporter.get_finished_spans()
    assert span.name == "embeddings gpt-fake" and span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "upstream_error"


@pytest.mark.parametrize(
    ("status", "outcome", "error"),
    [(499, "client_disconnect", False), (503, "gateway_error", True), (400, "invalid_request", True)],
)
def test_a_span_is_an_error_when_the_dashboard_counts_its_outcome_as_one(
    traced: tuple[RequestObserver, InMemorySpanExporter], status: int, outcome: str, error: bool
) -> None:
    observer, exporter = traced
    observer.metered(record(status=status, outcome=outcome), "acme")
    (span,) = exporter.get_finished_spans()
    assert (span.status.status_code is StatusCode.ERROR) is error
    assert ("error.type" in dict(span.attributes or {})) is error
