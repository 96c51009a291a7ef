"""Each request, once it is over, in the metrics, the access log and (optionally) a trace."""

from __future__ import annotations

import logging

from gateway.metering.record import UsageRecord
from gateway.metrics import NO_MODEL, Metrics
from gateway.observability import access_log
from gateway.observability.tracing import Tracing


class RequestObserver:
    """Called by the meter for every metered request, and by the edge for requests refused before
    metering (bad key, bad body, limits), so that each request is counted exactly once."""

    def __init__(self, metrics: Metrics, log: logging.Logger | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self._log = log
        self._tracing = tracing

    def metered(self, record: UsageRecord, customer: str) -> None:
        m = self.metrics
        deployment = record.deployment or ""
        status = str(record.status)
        m.requests.labels(record.model, deployment, status).inc()
        m.request_seconds.labels(record.model, deployment, status).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            m.ttft_seconds.labels(record.model, deployment).observe(record.ttft_ms / 1000)
        if record.input_tokens:
            m.tokens.labels(record.model, "input").inc(record.input_tokens)
        if record.output_tokens:
            m.tokens.labels(record.model, "output").inc(record.output_tokens)
        if record.cost_micros:
            m.cost_usd.labels(record.model).inc(record.cost_micros / 1_000_000)
        if self._log is not None:
            self._log.info(access_log.metered_line(record, customer).decode())
        if self._tracing is not None:
            self._tracing.request(record, customer)

    def refused(self, request_id: str, path: str, status: int, code: str | None, seconds: float) -> None:
        self.metrics.requests.labels(NO_MODEL, "", str(status)).inc()
        self.metrics.request_seconds.labels(NO_MODEL, "", str(status)).observe(seconds)
        if self._log is not None:
            self._log.info(access_log.refused_line(request_id, path, status, code, seconds * 1000).decode())

    def answer_started(self, overhead_seconds: float) -> None:
        self.metrics.overhead_seconds.observe(overhead_seconds)

    def close(self) -> None:
        self.metrics.close()
        if self._tracing is not None:
            self._tracing.close()
