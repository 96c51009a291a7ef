"""Orchestrating ``python -m benchmarks``: upstream, gateway variants, measurement phases, report.

One run starts the zero-latency upstream and, at once, one gateway (one worker) per (server, path)
variant, each with its own config, database and usage journal. The *core* path serves requests
without a key (``anonymous_customer``) and records no usage (``meter_usage: false``); the *metered*
path authenticates a customer key issued by ``tollgate keys create`` and meters every request into
its journal and database; the *passthrough* path is the reference they are held against, not a
gateway: ``benchmarks.passthrough``, the same server relaying bytes through the gateway's HTTP
client, parsing nothing. Every phase then measures the upstream called directly and each variant
in turn, first to last and back, :data:`ROUNDS` times in short slots, so that all see the same
machine state on average (this machine's throughput drifts by a third from one second to the next);
a metered variant's journal is then watched through one sustained run at c=64; the report
gives each variant's *added* latency (gateway minus direct, percentile by percentile), its
throughput beside the direct one, its CPU time per request, and for metered variants the journal's
lag under load and the usage rows against the requests sent. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from benchmarks.load import BenchError, Pool, Samples, Summary, cpu_snapshot, encode_request, summarize
from benchmarks.passthrough import UPSTREAM_VARIABLE
from benchmarks.procs import (
    HOST,
    PASSTHROUGH_FACTORY,
    child_env,
    free_port,
    issue_key,
    log,
    running,
    server_command,
    upstream_command,
    wait_ready,
)
from benchmarks.report import Header, render, revision
from benchmarks.results import (
    PATHS,
    PHASES,
    ROUNDS,
    SERVERS,
    PathKind,
    Phase,
    PhaseResult,
    Server,
    VariantResult,
)
from benchmarks.usage import AFTER_SECONDS, LagEvidence, LagWatch, count_usage

MODEL = "bench-model"

_POOL_SIZE = max(p.concurrency for p in PHASES)
_SETTLE_SECONDS = 0.2
_QUIESCE_SECONDS = 0.3


@dataclass(frozen=True, slots=True)
class BenchOptions:
    servers: tuple[Server, ...] = ("uvicorn",)
    paths: tuple[PathKind, ...] = PATHS
    seconds: float = 4.0  # per phase and per target
    output: Path | None = None
    command: str = "python -m benchmarks"


def _requests(port: int, key: str | None = None) -> tuple[bytes, bytes]:
    """The chat request, non-streaming and streaming, as one client would send them."""
    body: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
        "max_tokens": 32,
    }
    plain = msgspec.json.encode(body)
    streamed = msgspec.json.encode({**body, "stream": True})
    path, host = "/v1/chat/completions", f"{HOST}:{port}"
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return encode_request("POST", path, host, plain, headers), encode_request("POST", path, host, streamed, headers)


def write_config(directory: Path, name: str, upstream_port: int, path: PathKind) -> Path:
    """One variant's config: the upstream as its only backend, and everything it writes (database,
    usage journal) inside ``directory``, never in the working directory's ``.tollgate``."""
    config: dict[str, object] = {
        "backends": {"bench-upstream": {"type": "openai_compatible", "base_url": f"http://{HOST}:{upstream_port}/v1"}},
        "models": [{"name": MODEL, "kind": "chat", "deployments": [{"backend": "bench-upstream", "model": MODEL}]}],
        "database_url": f"sqlite+aiosqlite:///{directory / f'{name}.db'}",
        "journal_dir": str(directory / f"{name}-journal"),
    }
    if path == "core":
        config |= {"anonymous_customer": "bench", "meter_usage": False}
    file = directory / f"{name}.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    return file


@dataclass(frozen=True, slots=True)
class Target:
    """One system under load: the upstream called directly, or one gateway variant. ``pids`` are
    the processes (and process groups) whose CPU time is its own; ``journal`` and ``database`` are
    a metered variant's usage journal directory and SQLite file."""

    label: str
    pool: Pool
    plain: bytes
    streamed: bytes
    pids: frozenset[int]
    journal: Path | None = None
    database: Path | None = None


@dataclass(slots=True)
class _Tally:
    samples: list[Samples]
    cpu: list[float]
    loop: list[float]  # the main (event-loop) thread's share of ``cpu``
    queued: list[float]  # seconds that thread was runnable but waiting for a CPU
    rates: list[list[float]]  # requests per second of each slot, in slot order
    machine: float = 0.0
    ours: float = 0.0
    wall: float = 0.0
    other: float = 0.0  # the share of the CPUs that processes outside the bench used


async def _slot(
    phase: Phase, i: int, target: Target, seconds: float, tally: _Tally, groups: tuple[frozenset[int], ...]
) -> None:
    """One timed slot of ``target``: a short untimed settling run, the timed run, and a pause in
    which the target finishes its background work (counted in its CPU time, and not left to slow
    the next target)."""
    request = target.streamed if phase.stream else target.plain
    await target.pool.run(request, concurrency=phase.concurrency, seconds=_SETTLE_SECONDS)
    before, began = cpu_snapshot(groups), time.perf_counter()
    samples = await target.pool.run(request, concurrency=phase.concurrency, seconds=seconds, track_first=phase.stream)
    await asyncio.sleep(_QUIESCE_SECONDS)
    after = cpu_snapshot(groups)
    tally.samples[i].merge(samples)
    tally.rates[i].append(len(samples.latencies) / samples.elapsed if samples.elapsed > 0 else 0.0)
    tally.cpu[i] += after.groups[i] - before.groups[i]
    tally.loop[i] += after.main_threads[i] - before.main_threads[i]
    tally.queued[i] += after.main_queued[i] - before.main_queued[i]
    tally.machine += after.machine - before.machine
    tally.ours += after.groups[-1] - before.groups[-1]
    tally.wall += time.perf_counter() - began


async def _journal_run(phase: Phase, target: Target, seconds: float) -> LagEvidence | None:
    """A metered variant's journal lag through one sustained run at the phase's concurrency, and
    :data:`AFTER_SECONDS` after it."""
    if target.journal is None or phase.concurrency == 1:
        return None
    watch = LagWatch(target.journal)
    watch.start()
    request = target.streamed if phase.stream else target.plain
    await target.pool.run(request, concurrency=phase.concurrency, seconds=seconds)
    at_end, ended = watch.stop()
    await asyncio.sleep(max(0.0, AFTER_SECONDS - (time.perf_counter() - ended)))
    return watch.evidence(at_end, ended)


async def measure(phase: Phase, targets: list[Target], seconds: float) -> list[PhaseResult]:
    """Every target in :data:`ROUNDS` rounds, each first to last then last to first (the direct
    upstream first and last), so that all see the same machine state on average; the slots add up
    to ``seconds`` per target. Then each metered variant's journal run. One result per gateway."""
    ours = frozenset().union(*(t.pids for t in targets), {os.getpid()})
    groups = (*(t.pids for t in targets), ours)
    n = len(targets)
    tally = _Tally([Samples() for _ in targets], [0.0] * n, [0.0] * n, [0.0] * n, [[] for _ in targets])
    for _ in range(ROUNDS):
        for i in [*range(n), *reversed(range(n))]:
            await _slot(phase, i, targets[i], seconds / (2 * ROUNDS), tally, groups)
    capacity = tally.wall * len(os.sched_getaffinity(0))
    tally.other = max(tally.machine - tally.ours, 0.0) / capacity
    direct = summarize(tally.samples[0])
    return [_result(direct, tally, i, await _journal_run(phase, targets[i], seconds / 2)) for i in range(1, n)]


def _result(direct: Summary, tally: _Tally, i: int, journal: LagEvidence | None) -> PhaseResult:
    samples, loop = tally.samples[i], tally.loop[i]
    wall = samples.elapsed
    return PhaseResult(
        direct,
        summarize(samples),
        _per_request_us(tally.cpu[i], samples),
        tally.other,
        _per_request_us(loop, samples),
        loop / wall if wall > 0 else math.nan,
        tally.queued[i] / wall if wall > 0 else math.nan,
        journal,
        tuple(tally.rates[i]),
    )


def _per_request_us(cpu_seconds: float, samples: Samples) -> float:
    return cpu_seconds * 1e6 / len(samples.latencies) if samples.latencies else math.nan


async def _start_gateways(
    stack: contextlib.ExitStack,
    variants: list[VariantResult],
    upstream_port: int,
    workdir: Path,
    env: Mapping[str, str],
) -> list[Target]:
    """Start every variant at once (each gateway with its own config, database and journal; the
    pass-through reference with the upstream's address) and wait for all."""
    started = []
    for variant in variants:
        name = f"{variant.server}-{variant.path}"
        port, output, key = free_port(), workdir / f"{name}.log", None
        if variant.path == "passthrough":
            command, child = server_command(variant.server, port, PASSTHROUGH_FACTORY), child_env(env, None)
            child[UPSTREAM_VARIABLE] = f"http://{HOST}:{upstream_port}"
        else:
            config = write_config(workdir, name, upstream_port, variant.path)
            key = issue_key(config, child_env(env, None)) if variant.path == "metered" else None
            command, child = server_command(variant.server, port), child_env(env, config)
        process = stack.enter_context(running(command, child, output))
        started.append((variant.label, name, process, port, output, key))
    targets = []
    for label, name, process, port, output, key in started:
        await wait_ready(process, port, "/healthz", output)
        plain, streamed = _requests(port, key)
        pool = await Pool.open(HOST, port, _POOL_SIZE)
        journal, database = (workdir / f"{name}-journal", workdir / f"{name}.db") if key else (None, None)
        targets.append(Target(label, pool, plain, streamed, frozenset({process.pid}), journal, database))
    return targets


def _brief(label: str, result: PhaseResult) -> str:
    gateway = result.gateway
    text = (
        f"{label}: {gateway.rps:,.0f} req/s, p50 {gateway.p50_ms:.3f} ms, {result.gateway_cpu_us:,.0f} µs CPU/req "
        f"({result.loop_cpu_us:,.0f} on the loop thread, busy {result.loop_busy:.0%}), "
        f"errors {gateway.errors} (direct: {result.direct.rps:,.0f} req/s, p50 {result.direct.p50_ms:.3f} ms; "
        f"other processes {result.other_cpu:.0%} of the CPUs)"
    )
    if result.journal is not None:
        lag = result.journal
        text += f"; journal lag peak {lag.peak:,} B, at end {lag.at_end:,} B, {AFTER_SECONDS:g} s later {lag.after:,} B"
    return text


async def _measure_all(targets: list[Target], results: list[VariantResult], seconds: float) -> None:
    for target in targets:  # warm-up: connections, caches, the gateways' upstream pools
        for request in (target.plain, target.streamed):
            await target.pool.run(request, concurrency=_POOL_SIZE, seconds=0.5)
    for phase in PHASES:
        for result, measured in zip(results, await measure(phase, targets, seconds), strict=True):
            result.phases[phase.name] = measured
            log(f"{phase.name}: {_brief(result.label, measured)}")
    for result, target in zip(results, targets[1:], strict=True):
        if target.journal is not None and target.database is not None:
            result.usage = await count_usage(target.journal, target.database, target.pool.answered)
            log(f"{result.label}: {result.usage}")


async def run_bench(options: BenchOptions, env: Mapping[str, str]) -> list[VariantResult]:
    results = [VariantResult(server, path) for server in options.servers for path in options.paths]
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        upstream_port = free_port()
        output = workdir / "upstream.log"
        upstream = stack.enter_context(running(upstream_command(upstream_port), child_env(env, None), output))
        await wait_ready(upstream, upstream_port, "/v1/models", output)
        plain, streamed = _requests(upstream_port)
        pool = await Pool.open(HOST, upstream_port, _POOL_SIZE)
        direct = Target("direct", pool, plain, streamed, frozenset({upstream.pid}))
        log(f"starting {len(results)} gateway(s): " + ", ".join(r.label for r in results))
        targets = [direct, *await _start_gateways(stack, results, upstream_port, workdir, env)]
        try:
            await _measure_all(targets, results, options.seconds)
        finally:
            for target in targets:
                target.pool.close()
    return results


def main(options: BenchOptions, env: Mapping[str, str]) -> int:
    """Run the bench, print the report, and write it to ``options.output`` when given."""
    import uvloop

    started, code = datetime.datetime.now(datetime.UTC), revision()  # what the gateways will import
    clock = time.monotonic()
    try:
        results = uvloop.run(run_bench(options, env))
    except BenchError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 1
    report = render(results, Header(options.command, options.seconds, started, time.monotonic() - clock, code))
    print(report)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(report)
    return 0


def options(server: str, seconds: float, output: str | None) -> BenchOptions:
    """Options from the command line's choices ("both" or one server); the report quotes the command."""
    servers = SERVERS if server == "both" else tuple(s for s in SERVERS if s == server)
    if not servers or seconds <= 0:
        raise ValueError(f"bad bench options: server={server!r} duration={seconds!r}")
    command = f"python -m benchmarks --server {server} --duration {seconds:g}"
    if output:
        command += f" --output {output}"
    return BenchOptions(servers, PATHS, seconds, Path(output) if output else None, command)
