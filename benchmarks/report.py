"""The ``python -m benchmarks`` results and their Markdown report (what ``docs/benchmarks.md`` holds)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.conclusion import conclusion, passthrough_of
from benchmarks.results import PHASES, ROUNDS, VariantResult
from benchmarks.usage import AFTER_SECONDS, LAG_INTERVAL_SECONDS, kib

_PACKAGES = (
    "litestar",
    "msgspec",
    "uvicorn",
    "granian",
    "uvloop",
    "httptools",
    "aiohttp",
    "sqlalchemy",
    "aiosqlite",
)


@dataclass(frozen=True, slots=True)
class Header:
    command: str
    seconds: float
    started: datetime.datetime
    wall_seconds: float
    revision: str


def cpu_model() -> str:
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


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def revision() -> str:
    """The checkout's commit (``git rev-parse --short HEAD``) and the code files that differ from it,
    which the gateways import as they are."""
    commit = _git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()]
    code = [p for p in changed if p.endswith(".py") and not p.startswith("benchmarks/")]
    if not changed:
        return f"`{commit}`"
    if not code:
        return f"`{commit}` (the gateway code it measures as committed; only other files differed)"
    shown = ", ".join(f"`{p}`" for p in code[:8]) + (f" and {len(code) - 8} more" if len(code) > 8 else "")
    return f"`{commit}`, with uncommitted changes in {shown}"


def _versions() -> str:
    found = []
    for package in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return ", ".join(found)


def ms(value: float) -> str:
    return f"{value:+.2f}" if value == value else "n/a"  # NaN when a phase has no samples


def _reference_share(result: VariantResult, results: list[VariantResult], phase: str) -> str:
    """The variant's throughput in ``phase`` over the pass-through reference's on the same server."""
    reference = passthrough_of(results, result.server)
    if reference is None or reference is result:
        return "–"
    return f"{result.phases[phase].gateway.rps / reference.phases[phase].gateway.rps:.2f}"


def _summary_row(result: VariantResult, results: list[VariantResult]) -> str:
    c1, c64 = result.phases["chat c=1"], result.phases["chat c=64"]
    s1, s64 = result.phases["stream c=1"], result.phases["stream c=64"]
    cells = [
        result.server,
        result.path,
        ms(c1.added("p50_ms")),
        ms(c1.added("p99_ms")),
        ms(c64.added("p50_ms")),
        ms(c64.added("p99_ms")),
        f"{c64.gateway.rps:,.0f}",
        f"{c64.direct.rps:,.0f}",
        f"{c64.gateway.rps / c64.direct.rps:.3f}",
        _reference_share(result, results, "chat c=64"),
        f"{c64.gateway_cpu_us:,.0f}",
        ms(s1.added("first_byte_p50_ms")),
        ms(s1.added("first_byte_p99_ms")),
        ms(s64.added("first_byte_p50_ms")),
        f"{s64.gateway.rps:,.0f}",
        _reference_share(result, results, "stream c=64"),
        f"{s64.gateway_cpu_us:,.0f}",
        f"{result.other_cpu:.0%}",
    ]
    return "| " + " | ".join(cells) + " |"


def _detail_rows(result: VariantResult) -> Iterator[str]:
    for phase in PHASES:
        measured = result.phases[phase.name]
        for target, s in (("direct", measured.direct), ("gateway", measured.gateway)):
            first = f"{s.first_byte_p50_ms:.3f} | {s.first_byte_p99_ms:.3f}" if phase.stream else "– | –"
            cpu = "– | – | –"
            if target == "gateway":
                busy, queued = measured.loop_busy, measured.loop_queued
                cpu = f"{measured.gateway_cpu_us:,.0f} | {measured.loop_cpu_us:,.0f} | {busy:.0%} / {queued:.0%}"
            yield (
                f"| {result.label} | {phase.name} | {target} | {s.requests:,} | {s.errors} | {s.rps:,.0f} "
                f"| {s.p50_ms:.3f} | {s.p99_ms:.3f} | {first} | {cpu} | {measured.other_cpu:.0%} |"
            )


def _journal_rows(result: VariantResult) -> Iterator[str]:
    for phase in PHASES:
        lag = result.phases[phase.name].journal
        if lag is None:
            continue
        yield (
            f"| {result.label} | {phase.name} | {result.phases[phase.name].gateway.rps:,.0f} "
            f"| {kib(int(lag.write_rate))} | {kib(lag.peak)} | {kib(lag.at_end)} | {kib(lag.after)} |"
        )


def _usage_row(result: VariantResult) -> str:
    usage = result.usage
    if usage is None:
        return ""
    rows = f"{usage.rows:,}" if usage.rows >= 0 else "unreadable"
    verdict = "equal" if usage.complete else "**differ**"
    return f"| {result.label} | {usage.answered:,} | {rows} | {kib(usage.lag_left)} | {verdict} |"


def _journal_section(results: list[VariantResult]) -> list[str]:
    metered = [r for r in results if r.usage is not None]
    if not metered:
        return []
    return [
        "## Usage journal (metered variants)",
        "",
        f"Lag = journal bytes not yet committed to the database (`*.jsonl` beyond their `.done` offsets), read "
        f"by the bench every {LAG_INTERVAL_SECONDS:g} s through one sustained run at c=64 after the phase's slots "
        f"(half the phase's duration), when its load stopped, and {AFTER_SECONDS:g} s later. The drain commits "
        "every 0.2 s.",
        "",
        "| variant | phase | gateway req/s | journal written (KiB/s) | peak lag (KiB) | lag at end (KiB) "
        f"| lag {AFTER_SECONDS:g} s later (KiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
        *(row for r in metered for row in _journal_rows(r)),
        "",
        "After the last phase, once the journal was drained: the answers the load generator received from the "
        "variant over the whole run (warm-up and settling runs included) against the rows in its `usage_events`.",
        "",
        "| variant | requests answered | `usage_events` rows | lag left (KiB) | |",
        "|---|---:|---:|---:|---|",
        *(_usage_row(r) for r in metered),
        "",
    ]


def render(results: list[VariantResult], head: Header) -> str:
    header = (
        "| server | path | added p50 c=1 (ms) | added p99 c=1 (ms) | added p50 c=64 (ms) "
        "| added p99 c=64 (ms) | gateway req/s c=64 | direct req/s c=64 | gateway/direct | gateway/pass-through "
        "| gateway CPU µs/req c=64 | added TTFT p50 c=1 (ms) | added TTFT p99 c=1 (ms) | added TTFT p50 c=64 (ms) "
        "| gateway streams/s c=64 | streams/s gateway/pass-through | gateway CPU µs/stream c=64 | other load |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    detail = (
        "| variant | phase | target | requests | errors | req/s | p50 (ms) | p99 (ms) "
        "| TTFT p50 (ms) | TTFT p99 (ms) | gateway CPU µs/req | of which loop thread | loop thread on CPU / queued "
        "| other load |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    parts = [
        "# Benchmarks",
        "",
        f"- Command: `{head.command}` ({head.seconds:g} s per phase and target; "
        f"the whole run took {head.wall_seconds:.0f} s)",
        f"- Date: {head.started.strftime('%Y-%m-%d %H:%M UTC')}; commit: {head.revision}",
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {cpu_model()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- Packages: {_versions()}",
        "",
        _METHOD,
        "",
        "## Summary",
        "",
        header,
        *(_summary_row(r, results) for r in results),
        "",
        "## Conclusion",
        "",
        *conclusion(results),
        "",
        *_journal_section(results),
        "## All measurements",
        "",
        detail,
        *(row for r in results for row in _detail_rows(r)),
        "",
    ]
    return "\n".join(parts)


_METHOD = (
    "Each gateway variant runs with one worker in front of a zero-latency upstream (`benchmarks.upstream`, a "
    "raw asyncio protocol answering a fixed `chat.completion`, or 8 SSE events for streams); the load "
    "generator (`benchmarks.load`) keeps N keep-alive connections busy. Paths: **core** = no key "
    "(`anonymous_customer`, no `Authorization` header) and no usage recorded (`meter_usage: false`); "
    "**metered** = a customer key from `tollgate keys create` sent as `Bearer`, every request metered into the "
    "usage journal and drained into the variant's SQLite database; **passthrough** = not the gateway but the "
    "reference it is held against (`benchmarks.passthrough`: the same server, one worker, relaying the body's "
    "bytes to the upstream and the answer's back through an `aiohttp` client session (the reference issue 19 "
    "names; the gateway has its own leaner client since), parsing nothing); *gateway/pass-through* = the "
    "variant's throughput over the reference's in the same run. "
    "All variants run at once (idle "
    "when not measured); each phase measures the upstream called directly and every variant in short slots "
    f"ordered first to last, then last to first, {ROUNDS} times over ({2 * ROUNDS} slots per target), each after "
    "a short untimed settling run, so that all see the same machine state on average: this machine's "
    "throughput drifts by a third from one second to the next, so a ratio is only as good as its interleaving. "
    "*Added* = gateway percentile minus direct percentile; TTFT = request written to first `data:` byte. "
    "*Gateway CPU* = CPU time of the gateway's processes (all threads, its journal-drain process included) per "
    "answered request; *loop thread* = the part of it on the server's main thread, which runs the event loop "
    "(the drain process writes usage into SQLite; granian also runs Python on threads of its own), and "
    "*loop thread on CPU / queued* = the share of the timed runs' "
    "wall time that thread ran, and that it was runnable but waiting for a CPU (the rest it had nothing to do, "
    "or waited for the GIL); "
    "*other load* = the share of the CPUs that processes outside the bench used during the "
    "measurements. Load generator, upstream and gateways share the machine's cores, so absolute numbers are of "
    "this machine only: compare ratios and variants within one run."
)
