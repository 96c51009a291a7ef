"""The ``routing`` block of the config, and a model's canary rollout."""

from __future__ import annotations

from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class RetrySettings(msgspec.Struct, forbid_unknown_fields=True):
    """Retries of one deployment before any byte reached the client; then the next deployment is tried."""

    attempts: Annotated[int, msgspec.Meta(ge=1)] = 2  # tries per deployment, the first included
    backoff: Seconds = 0.05  # the first retry waits up to this (full jitter), doubling each time
    max_backoff: Seconds = 2.0
    # A Retry-After longer than this is not waited for: the request falls back instead.
    max_retry_after: Seconds = 5.0


class BreakerSettings(msgspec.Struct, forbid_unknown_fields=True):
    """A replica's circuit opens after ``failures`` failures in a row; ``cooldown`` later one probe
    request is let through (half-open), and its success closes the circuit again."""

    failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    cooldown: Seconds = 10.0


class RoutingSettings(msgspec.Struct, forbid_unknown_fields=True):
    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    # Active checks of every replica (``/health``) and, for vLLM pools, scrapes of ``/metrics``.
    health_interval: Seconds = 5.0
    metrics_interval: Seconds = 1.0
    # The region of requests that name none (neither their key nor ``x-tollgate-region``).
    default_region: str | None = None
    # For each region, the other regions from nearest to farthest: where its traffic fails over to.
    regions: dict[str, list[str]] = {}
    # With Redis, pools' leases (``max_outstanding``, the queue) are shared by every gateway: a dead
    # gateway's expire after ``lease_seconds`` (the living renew theirs), and a request queued on one
    # gateway looks again for room every ``queue_poll`` in case the news of a freed lease was lost.
    lease_seconds: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    queue_poll: Annotated[float, msgspec.Meta(gt=0)] = 0.25


class Rollout(msgspec.Struct, forbid_unknown_fields=True):
    """A canary: ``backend`` takes ``share`` of the model's traffic, and loses it by itself when its
    error rate exceeds the stable deployment's by ``error_margin`` or its p99 latency the stable one's
    by ``latency_margin`` (a fraction: 0.5 is 50 % slower), over the last ``window`` requests of each,
    once each has at least ``min_requests``."""

    backend: str
    model: str
    share: Share = 0.05
    error_margin: Share = 0.05
    latency_margin: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    min_requests: Annotated[int, msgspec.Meta(ge=1)] = 20
    window: Annotated[int, msgspec.Meta(ge=1)] = 200
