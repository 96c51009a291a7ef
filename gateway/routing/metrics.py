"""Routing's Prometheus counters, registered in the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.retries = Counter(
            "tollgate_routing_retries",
            "Upstream calls tried again before the first byte.",
            ["deployment"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "tollgate_routing_fallbacks",
            "Requests passed on to the next deployment of their model's chain.",
            ["model", "deployment"],
            registry=registry,
        )
        self.breaker_opened = Counter(
            "tollgate_routing_breaker_opened", "Replica circuits opened by failures.", ["deployment"], registry=registry
        )
        self.overloaded = Counter(
            "tollgate_routing_overloaded",
            "Requests refused because every replica was saturated and the queue full or waited out.",
            ["deployment"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "tollgate_routing_canary_rollbacks", "Canaries rolled back automatically.", ["model"], registry=registry
        )
