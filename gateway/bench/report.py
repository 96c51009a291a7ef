"""The ``tollgate bench`` results and their Markdown report (what ``docs/benchmarks.md`` holds)."""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from gateway.bench.load import Summary

Server = Literal["uvicorn", "granian"]
Transport = Literal["aiohttp", "httpx"]
_PACKAGES = ("litestar", "msgspec", "uvicorn", "granian", "uvloop", "httptools", "httpx", "httpx-aiohttp", "aiohttp")


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    stream: bool
    concurrency: int


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
    the machine's CPUs that processes other than the bench's own used meanwhile."""

    direct: Summary
    gateway: Summary
    gateway_cpu_us: float
    other_cpu: float

    def added(self, metric: str) -> float:
        value: float = getattr(self.gateway, metric) - getattr(self.direct, metric)
        return value


@dataclass(slots=True)
class VariantResult:
    server: Server
    transport: Transport
    phases: dict[str, PhaseResult] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """The gateway's requests per second at concurrency 64, non-streaming."""
        return self.phases["chat c=64"].gateway.rps

    @property
    def other_cpu(self) -> float:
        return max(p.other_cpu for p in self.phases.values())

    @property
    def label(self) -> str:
        return f"{self.server} + {self.transport}"


@dataclass(frozen=True, slots=True)
class Header:
    command: str
    seconds: float
    started: datetime.datetime
    wall_seconds: float
    revision: str


def _cpu_model() -> str:
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in fields:
                fields[key.strip()] = value.strip()
    name = fields.get("model name", platform.processor() or "unknown")
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def revision() -> str:
    """The checkout's commit, marked ``-dirty`` when the working tree differs from it."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _versions() -> str:
    found = []
    for package in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return ", ".join(found)


def _ms(value: float) -> str:
    return f"{value:+.2f}" if value == value else "n/a"  # NaN when a phase has no samples


def _summary_row(result: VariantResult) -> str:
    c1, c64 = result.phases["chat c=1"], result.phases["chat c=64"]
    s1, s64 = result.phases["stream c=1"], result.phases["stream c=64"]
    cells = [
        result.server,
        result.transport,
        _ms(c1.added("p50_ms")),
        _ms(c1.added("p99_ms")),
        _ms(c64.added("p50_ms")),
        _ms(c64.added("p99_ms")),
        f"{c64.gateway.rps:,.0f}",
        f"{c64.direct.rps:,.0f}",
        f"{c64.gateway.rps / c64.direct.rps:.3f}",
        f"{c64.gateway_cpu_us:,.0f}",
        _ms(s1.added("first_byte_p50_ms")),
        _ms(s1.added("first_byte_p99_ms")),
        _ms(s64.added("first_byte_p50_ms")),
        f"{s64.gateway.rps:,.0f}",
        f"{s64.gateway_cpu_us:,.0f}",
        f"{result.other_cpu:.0%}",
    ]
    return "| " + " | ".join(cells) + " |"


def _detail_rows(result: VariantResult) -> Iterator[str]:
    for phase in PHASES:
        measured = result.phases[phase.name]
        for target, s in (("direct", measured.direct), ("gateway", measured.gateway)):
            first = f"{s.first_byte_p50_ms:.3f} | {s.first_byte_p99_ms:.3f}" if phase.stream else "– | –"
            cpu = f"{measured.gateway_cpu_us:,.0f}" if target == "gateway" else "–"
            yield (
                f"| {result.label} | {phase.name} | {target} | {s.requests:,} | {s.errors} | {s.rps:,.0f} "
                f"| {s.p50_ms:.3f} | {s.p99_ms:.3f} | {first} | {cpu} | {measured.other_cpu:.0%} |"
            )


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


_NOISE = 1.15  # throughput ratios below this are within this machine's run-to-run noise


def _pairs(results: list[VariantResult], key: str, first: str) -> list[tuple[VariantResult, VariantResult]]:
    """Variants that differ only in ``key``, as (the one with ``first``, the other)."""
    other = "transport" if key == "server" else "server"
    return [
        (a, b)
        for a in results
        for b in results
        if getattr(a, key) == first and getattr(b, key) != first and getattr(a, other) == getattr(b, other)
    ]


def _best(results: list[VariantResult], key: Literal["server", "transport"]) -> tuple[str, str] | None:
    """Compare the two values of ``key`` (server or transport) over variants that differ only in it:
    the faster one and a sentence; ``None`` unless both values were measured.

    The faster one serves more requests per second at c=64 (the issue's throughput figure); when
    that difference is within the noise, the lower added latency at c=1 (its latency figure) decides."""
    values = sorted({getattr(r, key) for r in results})
    pairs = _pairs(results, key, values[0]) if len(values) == 2 else []
    if not pairs:
        return None

    def score(pairs: list[tuple[VariantResult, VariantResult]]) -> tuple[float, float]:
        speedup = _geomean([a.rps / b.rps for a, b in pairs])
        latency = sum(a.phases["chat c=1"].added("p50_ms") - b.phases["chat c=1"].added("p50_ms") for a, b in pairs)
        return speedup, latency / len(pairs)

    speedup, latency = score(pairs)
    if speedup < 1 / _NOISE or (speedup < _NOISE and latency > 0):
        pairs = _pairs(results, key, values[1])
        speedup, latency = score(pairs)
    faster, slower = getattr(pairs[0][0], key), getattr(pairs[0][1], key)
    cpu = _geomean([a.phases["chat c=64"].gateway_cpu_us / b.phases["chat c=64"].gateway_cpu_us for a, b in pairs])
    streams = _geomean([a.phases["stream c=64"].gateway.rps / b.phases["stream c=64"].gateway.rps for a, b in pairs])
    text = (
        f"**{faster}**: {speedup:.2f}× the requests/s of {slower} at c=64 ({cpu:.2f}× its CPU per request), "
        f"{streams:.2f}× its streams/s at c=64, added p50 at c=1 {latency:+.2f} ms against it"
    )
    if len(pairs) > 1:
        text += f" (geometric means over {len(pairs)} pairs)"
    if speedup < _NOISE:
        text += (
            f"; the throughputs are within this machine's run-to-run noise (under {_NOISE - 1:.0%} apart), "
            "so the added latency at c=1 decides"
        )
    return faster, text


def _targets(result: VariantResult) -> str:
    added = result.phases["chat c=1"].added("p50_ms")
    c64 = result.phases["chat c=64"]
    return (
        f"  - {result.label}: {added:+.2f} ms ({'met' if added <= 1 else 'not met'}); "
        f"{result.rps:,.0f} req/s ({'met' if result.rps >= 3000 else 'not met'}), "
        f"{result.rps / c64.direct.rps:.3f}× the direct upstream, {c64.gateway_cpu_us:,.0f} µs of gateway CPU "
        "per request."
    )


def _conclusion(results: list[VariantResult]) -> list[str]:
    lines = []
    transport = _best(results, "transport")
    kept = results
    if transport is not None:
        lines.append(f"- Faster transport: {transport[1]}.")
        kept = [r for r in results if r.transport == transport[0]]  # compare servers on the kept transport
    server = _best(kept, "server")
    if server is not None:
        on = f" with the {transport[0]} transport" if transport is not None else ""
        lines.append(f"- Faster server{on}: {server[1]}.")
    lines.append("- The issue's targets for one worker (added p50 ≤ 1 ms at c=1; ≥ 3,000 req/s at c=64):")
    lines += [_targets(r) for r in sorted(kept, key=lambda r: r.rps, reverse=True)]
    failed = {r.label: sum(p.gateway.errors for p in r.phases.values()) for r in results}
    if any(failed.values()):
        counts = ", ".join(f"{label}: {n:,}" for label, n in failed.items() if n)
        lines.append(f"- The gateway answered some requests with an error ({counts}); see the table below.")
    busiest = max(r.other_cpu for r in results)
    if busiest > 0.05:
        lines.append(
            f"- Other processes used up to {busiest:.0%} of the CPUs during this run: throughput and tail "
            "latencies are pessimistic; the CPU time per request is the steadier figure."
        )
    return lines


def render(results: list[VariantResult], head: Header) -> str:
    header = (
        "| server | transport | added p50 c=1 (ms) | added p99 c=1 (ms) | added p50 c=64 (ms) "
        "| added p99 c=64 (ms) | gateway req/s c=64 | direct req/s c=64 | gateway/direct | gateway CPU µs/req c=64 "
        "| added TTFT p50 c=1 (ms) | added TTFT p99 c=1 (ms) | added TTFT p50 c=64 (ms) | gateway streams/s c=64 "
        "| gateway CPU µs/stream c=64 | other load |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    detail = (
        "| variant | phase | target | requests | errors | req/s | p50 (ms) | p99 (ms) "
        "| TTFT p50 (ms) | TTFT p99 (ms) | gateway CPU µs/req | other load |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    parts = [
        "# Benchmarks",
        "",
        f"- Command: `{head.command}` ({head.seconds:g} s per phase and target; "
        f"the whole run took {head.wall_seconds:.0f} s)",
        f"- Date: {head.started.strftime('%Y-%m-%d %H:%M UTC')}; code: `{head.revision}`",
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {_cpu_model()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- Packages: {_versions()}",
        "",
        "Each gateway variant runs with one worker in front of a zero-latency upstream (`gateway.bench.upstream`, a "
        "raw asyncio protocol answering a fixed `chat.completion`, or 8 SSE events for streams); the load "
        "generator (`gateway.bench.load`) keeps N keep-alive connections busy. All variants run at once (idle "
        "when not measured); each phase measures the upstream called directly and every variant in slots "
        "ordered first to last, then last to first, each after a short untimed settling run, so that all see "
        "the same machine state on average. "
        "*Added* = gateway percentile minus direct percentile; TTFT = request written to first `data:` byte. "
        "*Gateway CPU* = CPU time of the gateway's processes per answered request; *other load* = the share "
        "of the CPUs that processes outside the bench used during the measurements. Load generator, upstream "
        "and gateway share the machine's cores, so absolute numbers are of this machine only: compare ratios "
        "and variants within one run.",
        "",
        "## Summary",
        "",
        header,
        *(_summary_row(r) for r in results),
        "",
        "## Conclusion",
        "",
        *_conclusion(results),
        "",
        "## All measurements",
        "",
        detail,
        *(row for r in results for row in _detail_rows(r)),
        "",
    ]
    return "\n".join(parts)
