"""The Conclusion of the ``python -m benchmarks`` report: each issue's target, met or not, with its numbers."""

from __future__ import annotations

import math
import statistics

from benchmarks.results import SERVERS, PhaseResult, Server, VariantResult
from benchmarks.usage import AFTER_SECONDS, kib

ADDED_P50_TARGET_MS = 1.0  # core gateway issue: added p50 at c=1, one worker
RPS_TARGET = 3000.0  # core gateway issue: requests per second at c=64, one worker
METERED_SHARE_TARGET = 0.90  # metering issue: metered throughput over core throughput, same run
_NOISE = 1.15  # throughput ratios below this are within this machine's run-to-run noise
# Issue 19 (faster hot path), for the metered path at c=64: gateway CPU per request and per 8-event
# stream (all its processes), and throughput over the pass-through reference's in the same run.
METERED_CPU_TARGET_US = 250.0
STREAM_CPU_TARGET_US = 600.0
PASSTHROUGH_SHARE_TARGET = 0.6


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _core_target(result: VariantResult) -> str:
    c1, c64 = result.phases["chat c=1"], result.phases["chat c=64"]
    added = c1.added("p50_ms")
    return (
        f"  - {result.label}: added p50 at c=1 {added:+.2f} ms ({_met(added <= ADDED_P50_TARGET_MS)}; "
        f"p99 {c1.added('p99_ms'):+.2f} ms); {result.rps:,.0f} req/s at c=64 ({_met(result.rps >= RPS_TARGET)}; "
        f"{result.rps / c64.direct.rps:.3f}× the direct upstream's {c64.direct.rps:,.0f}; added p50/p99 "
        f"{c64.added('p50_ms'):+.2f}/{c64.added('p99_ms'):+.2f} ms), {c64.gateway_cpu_us:,.0f} µs of gateway CPU "
        "per request."
    )


def passthrough_of(results: list[VariantResult], server: Server) -> VariantResult | None:
    """The pass-through reference measured on ``server`` in this run, if it was."""
    return next((r for r in results if r.server == server and r.path == "passthrough"), None)


def _faster(results: list[VariantResult]) -> list[str]:
    """Issue 19's targets for the metered path: CPU per request and per stream, throughput against
    the pass-through reference on the same server."""
    lines = []
    for result in (r for r in results if r.path == "metered"):
        c64, s64 = result.phases["chat c=64"], result.phases["stream c=64"]
        text = (
            f"  - {result.label}: {c64.gateway_cpu_us:,.0f} µs of gateway CPU per request "
            f"({_met(c64.gateway_cpu_us <= METERED_CPU_TARGET_US)}; {c64.loop_cpu_us:,.0f} on the loop thread), "
            f"{s64.gateway_cpu_us:,.0f} µs per 8-event stream ({_met(s64.gateway_cpu_us <= STREAM_CPU_TARGET_US)}; "
            f"{s64.loop_cpu_us:,.0f} on the loop thread)"
        )
        reference = passthrough_of(results, result.server)
        if reference is not None:
            share = result.rps / reference.rps
            streams = s64.gateway.rps / reference.phases["stream c=64"].gateway.rps
            text += (
                f"; {result.rps:,.0f} req/s at c=64 against the pass-through's {reference.rps:,.0f} = **{share:.2f}×** "
                f"({_met(share >= PASSTHROUGH_SHARE_TARGET)}; streams {streams:.2f}×; the pass-through itself "
                f"{reference.phases['chat c=64'].gateway_cpu_us:,.0f} µs per request, "
                f"{reference.phases['stream c=64'].gateway_cpu_us:,.0f} per stream)"
            )
        lines.append(text + ".")
    if not lines:
        return []
    head = (
        f"- Faster hot path (issue 19), metered at c=64: ≤ {METERED_CPU_TARGET_US:g} µs of gateway CPU per request, "
        f"≤ {STREAM_CPU_TARGET_US:g} µs per 8-event stream, ≥ {PASSTHROUGH_SHARE_TARGET:g}× the pass-through's req/s:"
    )
    return [head, *lines]


def _pair(results: list[VariantResult], server: Server) -> tuple[VariantResult, VariantResult] | None:
    by_path = {r.path: r for r in results if r.server == server}
    return (by_path["core"], by_path["metered"]) if "core" in by_path and "metered" in by_path else None


def _metered_share(results: list[VariantResult]) -> list[str]:
    lines = []
    for server in SERVERS:
        pair = _pair(results, server)
        if pair is None:
            continue
        core, metered = pair
        share = metered.rps / core.rps
        streams = metered.phases["stream c=64"].gateway.rps / core.phases["stream c=64"].gateway.rps
        lines.append(
            f"  - {server}: metered {metered.rps:,.0f} ÷ core {core.rps:,.0f} req/s = **{share:.2f}** "
            f"({_met(share >= METERED_SHARE_TARGET)}); {_spread(core, metered)}; streams/s at c=64 "
            f"metered ÷ core = {streams:.2f}. {_cpu_split(core, metered)}"
        )
    if not lines:
        return []
    head = f"- Metering issue, throughput with auth and metering on ≥ {METERED_SHARE_TARGET:.2f} × core at c=64:"
    return [head, *lines]


def _spread(core: VariantResult, metered: VariantResult) -> str:
    """How far the ratio moves from one pair of adjacent slots to the next: the machine's noise."""
    pairs = zip(core.phases["chat c=64"].slot_rps, metered.phases["chat c=64"].slot_rps, strict=True)
    ratios = sorted(m / c for c, m in pairs if c > 0)
    if not ratios:
        return "no slot-by-slot throughput"
    return (
        f"slot by slot (each metered slot against the core slot beside it, {len(ratios)} pairs) the ratio "
        f"ranges {ratios[0]:.2f}–{ratios[-1]:.2f}, median {statistics.median(ratios):.2f}"
    )


def _cpu_split(core: VariantResult, metered: VariantResult) -> str:
    """Where metering's cost goes at c=64: the event-loop thread, and the rest (the journal-drain
    process, and threads of the server's own). Granian runs Python on
    its own threads too, so there only the total is given."""
    c, m = core.phases["chat c=64"], metered.phases["chat c=64"]
    total = (
        f"Gateway CPU per request: metered {m.gateway_cpu_us:,.0f} µs against core {c.gateway_cpu_us:,.0f} "
        f"({m.gateway_cpu_us - c.gateway_cpu_us:+,.0f} µs)"
    )
    if core.server != "uvicorn":
        return total + "."
    other_m, other_c = (max(p.gateway_cpu_us - p.loop_cpu_us, 0.0) for p in (m, c))
    return (
        f"{total}; on the event-loop thread {m.loop_cpu_us:,.0f} against {c.loop_cpu_us:,.0f} "
        f"({m.loop_cpu_us - c.loop_cpu_us:+,.0f} µs: key auth, usage record, journal write), elsewhere "
        f"{other_m:,.0f} against {other_c:,.0f} (the journal-drain process, SQLite). "
        f"The loop thread ran {_share(m)} of the wall time (core: {_share(c)}): what it neither ran nor "
        "queued for is time it had nothing to do or waited for the GIL."
    )


def _share(phase: PhaseResult) -> str:
    rest = max(1 - phase.loop_busy - phase.loop_queued, 0.0)
    return f"{phase.loop_busy:.0%}, queued for a CPU {phase.loop_queued:.0%}, neither {rest:.0%}"


def _journal(result: VariantResult) -> str:
    usage = result.usage
    assert usage is not None
    watched = [(name, p.journal) for name, p in result.phases.items() if p.journal is not None]
    drained = all(lag.after == 0 for _, lag in watched)
    parts = [
        f"{name} ({result.phases[name].gateway.rps:,.0f} req/s, {kib(int(lag.write_rate))} KiB/s written): "
        f"peak lag {kib(lag.peak)} KiB (≈ {_lag_ms(lag.peak, lag.write_rate)} ms of writing), "
        f"{kib(lag.at_end)} KiB when the load stopped, {kib(lag.after)} KiB {AFTER_SECONDS:g} s later"
        for name, lag in watched
    ]
    rows = f"{usage.rows:,}" if usage.rows >= 0 else "unreadable"
    return (
        f"  - {result.label}: " + "; ".join(parts) + f" — lag back to 0: {_met(drained)}. "
        f"`usage_events` rows {rows} against {usage.answered:,} requests answered: {_met(usage.complete)}."
    )


def _lag_ms(lag: int, rate: float) -> str:
    return f"{lag / rate * 1000:,.0f}" if rate > 0 else "n/a"


def _ttft(results: list[VariantResult]) -> str:
    parts = []
    for r in results:
        s1, s64 = r.phases["stream c=1"], r.phases["stream c=64"]
        parts.append(
            f"{r.label} {s1.added('first_byte_p50_ms'):+.2f} ms at c=1 (p99 {s1.added('first_byte_p99_ms'):+.2f}), "
            f"{s64.added('first_byte_p50_ms'):+.2f} ms at c=64"
        )
    return "- Added time to first token (p50, streams): " + "; ".join(parts) + "."


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _servers(results: list[VariantResult]) -> list[str]:
    """uvicorn against granian, over variants on the same path; nothing unless both were measured."""
    pairs = [(a, b) for a in results for b in results if (a.server, b.server) == SERVERS and a.path == b.path]
    if not pairs:
        return []
    speedup = _geomean([a.rps / b.rps for a, b in pairs])
    cpu = _geomean([a.phases["chat c=64"].gateway_cpu_us / b.phases["chat c=64"].gateway_cpu_us for a, b in pairs])
    latency = sum(a.phases["chat c=1"].added("p50_ms") - b.phases["chat c=1"].added("p50_ms") for a, b in pairs)
    text = (
        f"- Servers ({SERVERS[0]} against {SERVERS[1]}, geometric mean over {len(pairs)} path(s)): "
        f"{speedup:.2f}× the requests/s at c=64, {cpu:.2f}× the CPU per request, added p50 at c=1 "
        f"{latency / len(pairs):+.2f} ms"
    )
    if 1 / _NOISE < speedup < _NOISE:
        text += f"; the throughputs are within this machine's run-to-run noise (under {_NOISE - 1:.0%} apart)"
    return [text + "."]


def conclusion(results: list[VariantResult]) -> list[str]:
    lines = [
        f"- Core gateway issue, one worker: added p50 ≤ {ADDED_P50_TARGET_MS:g} ms at c=1, "
        f"≥ {RPS_TARGET:,.0f} req/s at c=64 (non-streaming):",
        *(_core_target(r) for r in results if r.path != "passthrough"),
        *_metered_share(results),
        *_faster(results),
    ]
    metered = [r for r in results if r.usage is not None]
    if metered:
        lines.append("- Metering issue, the journal keeps up at the maximum rate without growing:")
        lines += [_journal(r) for r in metered]
    lines.append(_ttft(results))
    lines += _servers(results)
    failed = {r.label: sum(p.gateway.errors for p in r.phases.values()) for r in results}
    if any(failed.values()):
        counts = ", ".join(f"{label}: {n:,}" for label, n in failed.items() if n)
        lines.append(f"- The gateway answered some requests with an error ({counts}); see the tables below.")
    busiest = max(r.other_cpu for r in results)
    if busiest > 0.05:
        lines.append(
            f"- Other processes used up to {busiest:.0%} of the CPUs during this run: throughput and tail "
            "latencies are pessimistic; the CPU time per request is the steadier figure."
        )
    return lines
