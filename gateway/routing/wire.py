"""Wire models of the routing admin API: ``/admin/routing``, ``/admin/reload`` and rollouts."""

from __future__ import annotations

import msgspec


class ReplicaOut(msgspec.Struct, kw_only=True):
    key: str
    healthy: bool
    circuit: str
    outstanding: int
    served: int
    latency_ms: float
    engine_waiting: float | None
    engine_running: float | None


class SleepOut(msgspec.Struct, kw_only=True):
    """A pool that scales to zero (gateway/routing/wake.py): awake, asleep or waking, and since when."""

    phase: str
    seconds_in_phase: float
    last_cold_start_seconds: float | None


class DeploymentOut(msgspec.Struct, kw_only=True):
    name: str
    region: str | None
    strategy: str
    queued: int
    replicas: list[ReplicaOut]
    sleep: SleepOut | None = None  # only for pools with min_replicas: 0


class RolloutOut(msgspec.Struct, kw_only=True):
    model: str
    canary: str
    state: str
    share: float
    reason: str | None
    canary_requests: int
    canary_error_rate: float
    canary_p99_ms: float
    stable_requests: int
    stable_error_rate: float
    stable_p99_ms: float
    stage: int = 0  # index into stages, the candidate's share at each (fractions)
    stages: list[float] = []
    object: str = "rollout"


class RoutingOut(msgspec.Struct, kw_only=True):
    deployments: list[DeploymentOut]
    rollouts: list[RolloutOut]
    object: str = "routing"


class ReloadOut(msgspec.Struct, kw_only=True):
    added: list[str]
    removed: list[str]
    replicas: int
    object: str = "reload"
