"""Each request, once it is over, in the metrics, the access log and (optionally) a trace."""

from __future__ import annotations

import asyncio

from gateway.metering.record import UsageRecord
from gateway.metrics import NO_MODEL, Metrics
from gateway.observability.access_log import FLUSH_SECONDS, AccessLog
from gateway.observability.tracing import Tracing


class _Series:
    """The metric children of one (model, deployment, status): looked up once, not per request."""

    def __init__(self, metrics: Metrics, model: str, deployment: str, status: str) -> None:
        self.requests = metrics.requests.labels(model, deployment, status)
        self.seconds = metrics.request_seconds.labels(model, deployment, status)
        self.ttft = metrics.ttft_seconds.labels(model, deployment)
        self.tokens_in = metrics.tokens.labels(model, "input")
        self.tokens_out = metrics.tokens.labels(model, "output")
        self.cost = metrics.cost_usd.labels(model)


class RequestObserver:
    """Called by the meter for every metered request, and by the edge for requests refused before
    metering (bad key, bad body, limits), so that each request is counted exactly once."""

    def __init__(self, metrics: Metrics, log: AccessLog | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self._log = log
        self._tracing = tracing
        # Bounded: models and deployments come from the config, statuses from HTTP.
        self._series: dict[tuple[str, str, int], _Series] = {}

    def _of(self, model: str, deployment: str, status: int) -> _Series:
        key = (model, deployment, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(self.metrics, model, deployment, str(status))
        return series

    def metered(self, record: UsageRecord, customer: str) -> None:
        series = self._of(record.model, record.deployment or "", record.status)
        series.requests.inc()
        series.seconds.observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            series.ttft.observe(record.ttft_ms / 1000)
        if record.input_tokens:
            series.tokens_in.inc(record.input_tokens)
        if record.output_tokens:
            series.tokens_out.inc(record.output_tokens)
        if record.cost_micros:
            series.cost.inc(record.cost_micros / 1_000_000)
        if self._log is not None:
            self._log.metered(record, customer)
        if self._tracing is not None:
            self._tracing.request(record, customer)

    def refused(self, request_id: str, path: str, status: int, code: str | None, seconds: float) -> None:
        series = self._of(NO_MODEL, "", status)
        series.requests.inc()
        series.seconds.observe(seconds)
        if self._log is not None:
            self._log.refused(request_id, path, status, code, seconds * 1000)

    def answer_started(self, overhead_seconds: float) -> None:
        self.metrics.overhead_seconds.observe(overhead_seconds)

    async def flush_forever(self) -> None:
        """Lines reach standard output within :data:`FLUSH_SECONDS` of their request's end."""
        if self._log is None:
            return
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self._log.flush()

    def close(self) -> None:
        if self._log is not None:
            self._log.flush()
        self.metrics.close()
        if self._tracing is not None:
            self._tracing.close()
