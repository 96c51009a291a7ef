"""OpenTelemetry spans for requests, after the GenAI semantic conventions (the ``otel`` extra).

A span is written once the request is metered, from its usage record: its start and end are the
request's own, so the span costs nothing while the request is in flight. Attribute names follow
the OpenTelemetry GenAI conventions (``gen_ai.*``); Tollgate's own facts go under ``tollgate.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway import install_extra
from gateway.metering.outcome import is_error
from gateway.metering.pricing import format_usd
from gateway.metering.record import UsageRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from gateway.settings import TracingSettings

# Tollgate's endpoint names (``Operation`` values) as GenAI operation names.
OPERATIONS = {"chat/completions": "chat", "completions": "text_completion", "embeddings": "embeddings"}


class Tracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("tollgate")

    def request(self, record: UsageRecord, customer: str) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        operation = OPERATIONS.get(record.endpoint, record.endpoint)
        start_ns = int(record.created_at * 1e9)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": "tollgate",
            "gen_ai.request.model": record.model,
            "gen_ai.usage.input_tokens": record.input_tokens,
            "gen_ai.usage.output_tokens": record.output_tokens,
            "http.response.status_code": record.status,
            "tollgate.request_id": record.request_id,
            "tollgate.customer": customer,
            "tollgate.deployment": record.deployment or "",
            "tollgate.outcome": record.outcome,
            "tollgate.cache": record.cache_status,
            "tollgate.cost_usd": format_usd(record.cost_micros),
            "tollgate.stream": record.streamed,
        }
        if record.ttft_ms is not None:
            attributes["tollgate.time_to_first_token_ms"] = record.ttft_ms
        span = self._tracer.start_span(
            f"{operation} {record.model}", kind=SpanKind.CLIENT, start_time=start_ns, attributes=attributes
        )
        if is_error(record.outcome):  # as the dashboard counts errors: a client that left (499) is not one
            span.set_attribute("error.type", record.outcome)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + int(record.latency_ms * 1e6))

    def close(self) -> None:
        self.provider.shutdown()


def build_tracing(settings: TracingSettings) -> Tracing:
    """Spans exported over OTLP/HTTP in batches, off the request path."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        missing = f"tracing is configured but OpenTelemetry is not installed: {install_extra('otel')}"
        raise RuntimeError(missing) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return Tracing(provider)
