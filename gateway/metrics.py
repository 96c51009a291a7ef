"""Prometheus metrics, in a registry owned by the app state (never the process-global one).

Every label takes values from a bounded set: model and deployment names come from the config,
statuses and reasons from the code. Key ids, customer ids and request ids are never labels.

Several worker processes (``tollgate serve --workers N``): ``tollgate serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start; prometheus-client then
keeps each value in a per-process file, and :meth:`Metrics.render` sums them, so whichever worker
answers a scrape reports the whole server. Gauges say how their per-process values combine.

Helpers for the parts that other modules own (cache, routing queue, replica health and circuit
breakers, Stripe sync) are defined here, so their metric names are fixed before those modules
call them; each helper is one call at the point where the event happens.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# Whole requests: from a cached answer (milliseconds) to a long generation (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# What the gateway itself adds to a request: well under a millisecond when healthy.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A pool's cold start: seconds for vLLM's sleep mode, minutes for a full start of a large model.
COLD_START_BUCKETS = (1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900)
# Accuracy feedback scores, 0 to 1: their mean (_sum / _count) is what the alert rule watches.
FEEDBACK_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
# Status of a request that never reached a model the config knows.
NO_MODEL = ""


@dataclass
class Metrics:
    """All of Tollgate's metrics. ``multiprocess_dir`` is set when several workers share a port."""

    multiprocess_dir: str | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Called before each scrape: what holds counts back hands them over (gateway/observability/tally.py).
    before_render: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._requests()
        self._admission()
        self._cache()
        self._routing()
        self._background()
        self._feedback()
        self._pools()

    def _requests(self) -> None:
        by_route = ["model", "deployment", "status"]
        self.requests = Counter(
            "tollgate_requests",
            "Requests answered, by model, deployment and HTTP status.",
            by_route,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "tollgate_request_duration_seconds",
            "Time from a request's arrival to its last byte, by model, deployment and status.",
            by_route,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ttft_seconds = Histogram(
            "tollgate_time_to_first_token_seconds",
            "Streams: time from a request's arrival to its first chunk.",
            ["model", "deployment"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.overhead_seconds = Histogram(
            "tollgate_overhead_seconds",
            "Time the gateway adds to a request (total time less the upstream's), until the answer starts.",
            buckets=OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "tollgate_tokens",
            "Tokens metered, by model and direction (input or output).",
            ["model", "direction"],
            registry=self.registry,
        )
        self.cost_usd = Counter(
            "tollgate_cost_usd",
            "Dollars charged to customers, by model.",
            ["model"],
            registry=self.registry,
        )

    def _admission(self) -> None:
        self.admission_store_errors = Counter(
            "tollgate_admission_store_errors",
            "Admission store (Redis) calls that failed; the configured fail-open/closed policy applied.",
            registry=self.registry,
        )
        self.admission_rejections = Counter(
            "tollgate_admission_rejections",
            "Requests refused by admission control, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.budget_warnings = Counter(
            "tollgate_budget_warnings",
            "Requests admitted while their key's or customer's budget was past its warning percent.",
            registry=self.registry,
        )

    def _cache(self) -> None:
        self.cache_lookups = Counter(
            "tollgate_cache_lookups",
            "Response-cache lookups, by model and result (hit, semantic or miss).",
            ["model", "result"],
            registry=self.registry,
        )
        self.cache_savings_usd = Counter(
            "tollgate_cache_savings_usd",
            "Upstream dollars not spent thanks to cached answers.",
            ["model"],
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "tollgate_cache_errors", "Cache store (Redis) calls that failed; served as misses.", registry=self.registry
        )

    def _routing(self) -> None:
        self.routing_retries = Counter(
            "tollgate_routing_retries",
            "Upstream calls tried again before the first byte.",
            ["deployment"],
            registry=self.registry,
        )
        self.routing_fallbacks = Counter(
            "tollgate_routing_fallbacks",
            "Requests passed on to the next deployment of their model's chain.",
            ["model", "deployment"],
            registry=self.registry,
        )
        self.routing_breaker_opened = Counter(
            "tollgate_routing_breaker_opened",
            "Replica circuits opened by failures.",
            ["deployment"],
            registry=self.registry,
        )
        self.routing_overloaded = Counter(
            "tollgate_routing_overloaded",
            "Requests refused because every replica was saturated and the queue full or waited out.",
            ["deployment"],
            registry=self.registry,
        )
        self.routing_rollbacks = Counter(
            "tollgate_routing_canary_rollbacks",
            "Canaries rolled back automatically.",
            ["model"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tollgate_queue_depth",
            "Requests waiting for a replica of a pool.",
            ["pool"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "tollgate_queue_wait_seconds",
            "Time requests waited for a replica, by pool.",
            ["pool"],
            buckets=QUEUE_BUCKETS,
            registry=self.registry,
        )
        self.replica_up = Gauge(
            "tollgate_replica_up",
            "1 when the gateway considers a pool replica healthy, 0 otherwise.",
            ["pool", "replica"],
            multiprocess_mode="livemin",
            registry=self.registry,
        )
        self.circuit_state = Gauge(
            "tollgate_circuit_state",
            "A replica's circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["pool", "replica"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )

    def _background(self) -> None:
        self.journal_lag_bytes = Gauge(
            "tollgate_journal_lag_bytes",
            "Usage journal bytes written and not yet stored in the database.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.journal_refused_segments = Gauge(
            "tollgate_journal_refused_segments",
            "Journal segments the drain leaves alone because they were written for another database.",
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.journal_stored = Counter(
            "tollgate_journal_stored_events",
            "Usage events the journal drain stored in the database.",
            registry=self.registry,
        )
        self.journal_drain_up = Gauge(
            "tollgate_journal_drain_up",
            "1 while the journal drain process runs, 0 while it is dead and waits to be restarted.",
            multiprocess_mode="livemin",
            registry=self.registry,
        )
        self.journal_drain_restarts = Counter(
            "tollgate_journal_drain_restarts",
            "Journal drain processes restarted after they died.",
            registry=self.registry,
        )
        self.admission_store_up = Gauge(
            "tollgate_admission_store_up",
            "1 while the admission store (Redis) answers, 0 while it cannot be reached (limits are not"
            " enforced with admission_fail_open, limited requests refused without).",
            multiprocess_mode="livemin",
            registry=self.registry,
        )
        self.stripe_sync_lag_seconds = Gauge(
            "tollgate_stripe_sync_lag_seconds",
            "Seconds the oldest meter event planned for Stripe has waited to be sent (0: none waiting).",
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )

    # Helpers for the modules that record these events (one call each, at the event).

    def _feedback(self) -> None:
        self.feedback_score = Histogram(
            "tollgate_feedback_score",
            "Accuracy scores (0-1) customers gave answers, by model and the deployment (version) that answered.",
            ["model", "deployment"],
            buckets=FEEDBACK_BUCKETS,
            registry=self.registry,
        )

    def _pools(self) -> None:
        """Scale to zero (gateway/routing/wake.py): what an autoscaler and the cost of a pool read."""
        self.pool_pending = Gauge(
            "tollgate_pool_pending_requests",
            "Requests for a pool in flight on it or waiting for it, and 1 while it wakes for requests"
            " served by a fallback: KEDA scales a pool from zero on it.",
            ["pool"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.pool_replicas_running = Gauge(
            "tollgate_pool_replicas_running",
            "A pool's replicas that take requests (0 while it sleeps), as the gateway sees them.",
            ["pool"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self.pool_cold_start_seconds = Histogram(
            "tollgate_pool_cold_start_seconds",
            "From the first request for a sleeping pool to its first ready replica.",
            ["pool"],
            buckets=COLD_START_BUCKETS,
            registry=self.registry,
        )

    def pool_state(self, pool: str, pending: int, running: int) -> None:
        self.pool_pending.labels(pool).set(pending)
        self.pool_replicas_running.labels(pool).set(running)

    def pool_cold_start(self, pool: str, seconds: float) -> None:
        self.pool_cold_start_seconds.labels(pool).observe(seconds)

    def queue_changed(self, pool: str, waiting: int) -> None:
        self.queue_depth.labels(pool).set(waiting)

    def queue_waited(self, pool: str, seconds: float) -> None:
        self.queue_wait_seconds.labels(pool).observe(seconds)

    def replica_health(self, pool: str, replica: str, healthy: bool) -> None:
        self.replica_up.labels(pool, replica).set(1 if healthy else 0)

    def circuit_changed(self, pool: str, replica: str, state: str) -> None:
        """``state`` is ``closed``, ``half_open`` or ``open``."""
        self.circuit_state.labels(pool, replica).set(CIRCUIT_STATES[state])

    def stripe_synced(self, oldest_unreported_age_seconds: float) -> None:
        self.stripe_sync_lag_seconds.set(oldest_unreported_age_seconds)

    def render(self) -> bytes:
        for flush in self.before_render:
            flush()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """A worker that stops takes its live gauges with it; its counters stay in the sum."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
