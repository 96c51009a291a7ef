"""The ``routing`` block of the config, and a model's staged rollout."""

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
    # Every gateway adds its rollouts' outcomes to the shared tallies and looks at the one verdict
    # (gateway/routing/rollouts.py) this often.
    rollout_interval: Annotated[float, msgspec.Meta(gt=0)] = 1.0


class Rollout(msgspec.Struct, forbid_unknown_fields=True):
    """A staged rollout of ``backend`` (the candidate) beside the model's stable deployments.

    The candidate takes ``stages[0]`` percent of the traffic, then each next stage once it has held
    its stage for ``stage_minutes`` with at least ``min_requests`` requests on each side and was no
    worse than the stable deployments: on error rate (by ``error_margin``), p99 latency (by
    ``latency_margin``, a fraction: 0.5 is 50 % slower) and, once each side has ``min_feedback``
    scores, mean accuracy score (by ``accuracy_margin``). Worse on any of them rolls it back by
    itself. A last stage of 100 promotes it; the stable deployments then stay its fallbacks and can
    be restored for ``keep_previous_hours``. Without ``stages``, the candidate holds ``share`` (the
    fixed canary of old) until an admin promotes it or it does worse. ``window`` bounds the recent
    outcomes each gateway shows of its own traffic in ``GET /admin/routing``."""

    backend: str
    model: str
    share: Share = 0.05
    stages: list[Annotated[float, msgspec.Meta(gt=0, le=100)]] | None = None  # percent, rising
    stage_minutes: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    keep_previous_hours: Annotated[float, msgspec.Meta(ge=0)] = 24.0
    error_margin: Share = 0.05
    latency_margin: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    accuracy_margin: Share = 0.05
    min_requests: Annotated[int, msgspec.Meta(ge=1)] = 20
    min_feedback: Annotated[int, msgspec.Meta(ge=1)] = 5
    window: Annotated[int, msgspec.Meta(ge=1)] = 200

    def __post_init__(self) -> None:
        if self.stages is not None and (not self.stages or sorted(set(self.stages)) != self.stages):
            raise msgspec.ValidationError("rollout.stages must be rising percentages, at least one")

    def shares(self) -> tuple[float, ...]:
        """The candidate's share of the traffic at each stage, as fractions."""
        return (self.share,) if self.stages is None else tuple(stage / 100 for stage in self.stages)
