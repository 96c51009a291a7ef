"""Prometheus metrics, in a registry owned by the app state (never the process-global one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, generate_latest


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
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
        self.cache_lookups = Counter(
            "tollgate_cache_lookups",
            "Response cache lookups, by result: hit, semantic or miss.",
            ["result"],
            registry=self.registry,
        )
        self.cache_saved_micros = Counter(
            "tollgate_cache_saved_usd_micros",
            "What cache hits saved customers against the full price, in micro-dollars.",
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "tollgate_cache_errors", "Cache store (Redis) calls that failed; served as misses.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
