"""Each request, once it is over, in the metrics, the access log and (optionally) a trace."""

from __future__ import annotations

import asyncio

from gateway.metering.record import UsageRecord
from gateway.metrics import NO_MODEL, Metrics
from gateway.observability.access_log import FLUSH_SECONDS, AccessLog
from gateway.observability.tally import Distribution, Tally
from gateway.observability.tracing import Tracing


class RequestObserver:
    """Called by the meter for every metered request, and by the edge for requests refused before
    metering (bad key, bad body, limits), so that each request is counted exactly once."""

    def __init__(self, metrics: Metrics, log: AccessLog | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self._log = log
        self._tracing = tracing
        # Bounded: models and deployments come from the config, statuses from HTTP.
        self._series: dict[tuple[str, str, int], Tally] = {}
        self._moved: list[Tally] = []  # the series counted since the last flush
        self._overhead = Distribution(metrics.overhead_seconds)
        self._each_request = metrics.multiprocess_dir is not None  # see gateway/observability/tally.py
        metrics.before_render.append(self.flush)

    def _counted(self, model: str, deployment: str, status: int) -> Tally:
        """The series' tally, with one more request counted."""
        key = (model, deployment, status)
        tally = self._series.get(key)
        if tally is None:
            metrics, labels = self.metrics, (model, deployment, str(status))
            tokens = (metrics.tokens.labels(model, "input"), metrics.tokens.labels(model, "output"))
            tally = self._series[key] = Tally(
                metrics.requests.labels(*labels),
                metrics.request_seconds.labels(*labels),
                metrics.ttft_seconds.labels(model, deployment),
                tokens,
                metrics.cost_usd.labels(model),
            )
        if not tally.requests:
            self._moved.append(tally)
        tally.requests += 1
        return tally

    def flush(self) -> None:
        """Hand what was counted since the last flush to prometheus-client."""
        for tally in self._moved:
            tally.flush()
        self._moved.clear()
        self._overhead.flush()

    def metered(self, record: UsageRecord, customer: str) -> None:
        tally = self._counted(record.model, record.deployment or "", record.status)
        tally.seconds.observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            tally.ttft.observe(record.ttft_ms / 1000)
        tally.tokens_in += record.input_tokens
        tally.tokens_out += record.output_tokens
        tally.cost_micros += record.cost_micros
        if self._each_request:
            self.flush()
        if self._log is not None:
            self._log.metered(record, customer)
        if self._tracing is not None:
            self._tracing.request(record, customer)

    def refused(self, request_id: str, path: str, status: int, code: str | None, seconds: float) -> None:
        self._counted(NO_MODEL, "", status).seconds.observe(seconds)
        if self._each_request:
            self.flush()
        if self._log is not None:
            self._log.refused(request_id, path, status, code, seconds * 1000)

    def answer_started(self, overhead_seconds: float) -> None:
        self._overhead.observe(overhead_seconds)
        if self._each_request:
            self._overhead.flush()

    async def flush_forever(self) -> None:
        """Lines reach standard output within :data:`FLUSH_SECONDS` of their request's end."""
        if self._log is None:
            return
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self._log.flush()

    def close(self) -> None:
        self.flush()  # a worker's counts outlive it in the multiprocess files
        if self._log is not None:
            self._log.flush()
        self.metrics.close()
        if self._tracing is not None:
            self._tracing.close()
