"""The results of ``python -m benchmarks``: its phases, and what each gateway variant measured in them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from benchmarks.load import Summary
from benchmarks.usage import LagEvidence, UsageCount

Server = Literal["uvicorn", "granian"]
# ``passthrough`` is the reference, not the gateway: ``benchmarks.passthrough`` on the same server.
PathKind = Literal["passthrough", "core", "metered"]
PATHS: tuple[PathKind, ...] = ("passthrough", "core", "metered")
SERVERS: tuple[Server, ...] = ("uvicorn", "granian")


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    stream: bool
    concurrency: int


ROUNDS = 8  # per phase, each target runs 2 × ROUNDS slots, interleaved with the others

PHASES = (
    Phase("chat c=1", stream=False, concurrency=1),
    Phase("chat c=64", stream=False, concurrency=64),
    Phase("stream c=1", stream=True, concurrency=1),
    Phase("stream c=64", stream=True, concurrency=64),
)


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase, direct and through the gateway. ``gateway_cpu_us`` is the gateway's CPU time per
    answered request (less sensitive to other load than throughput); ``other_cpu`` is the share of
    the machine's CPUs that processes other than the bench's own used meanwhile; ``loop_cpu_us`` is
    the part of ``gateway_cpu_us`` spent on the gateway's main thread (its event loop: the rest is
    the journal-drain process and SQLite), ``loop_busy`` that thread's CPU time over the wall time of the
    timed runs and ``loop_queued`` the time it was runnable but waiting for a CPU; ``journal`` is a
    metered variant's journal lag in a c=64 phase; ``slot_rps`` the gateway's throughput in each of
    its interleaved slots, in order."""

    direct: Summary
    gateway: Summary
    gateway_cpu_us: float
    other_cpu: float
    loop_cpu_us: float = math.nan
    loop_busy: float = math.nan
    loop_queued: float = math.nan
    journal: LagEvidence | None = None
    slot_rps: tuple[float, ...] = ()

    def added(self, metric: str) -> float:
        value: float = getattr(self.gateway, metric) - getattr(self.direct, metric)
        return value


@dataclass(slots=True)
class VariantResult:
    server: Server
    path: PathKind
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    usage: UsageCount | None = None  # metered variants

    @property
    def rps(self) -> float:
        """The gateway's requests per second at concurrency 64, non-streaming."""
        return self.phases["chat c=64"].gateway.rps

    @property
    def other_cpu(self) -> float:
        return max(p.other_cpu for p in self.phases.values())

    @property
    def label(self) -> str:
        return f"{self.server} {self.path}"
