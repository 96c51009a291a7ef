"""Orchestrating ``tollgate bench``: upstream, gateway variants, measurement phases, report.

One run starts the zero-latency upstream and, at once, one gateway (one worker) per (server,
transport) variant, each with its own config, database, usage journal and customer key. Every
phase then measures the upstream called directly and each variant in turn, first to last and back,
so that all see the same machine state on average; the report gives each variant's *added* latency
(gateway minus direct, percentile by percentile), its throughput beside the direct one, and its CPU
time per request. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from gateway.bench.load import BenchError, Pool, Samples, cpu_snapshot, encode_request, fetch_status, summarize
from gateway.bench.report import PHASES, Header, Phase, PhaseResult, Server, Transport, VariantResult, render, revision
from gateway.settings import Settings

SERVERS: tuple[Server, ...] = ("uvicorn", "granian")
TRANSPORTS: tuple[Transport, ...] = ("aiohttp", "httpx")
HOST = "127.0.0.1"
MODEL = "bench-model"
FACTORY = "gateway.app:app_from_environment"


_POOL_SIZE = max(p.concurrency for p in PHASES)
_SETTLE_SECONDS = 0.2
_QUIESCE_SECONDS = 0.3


@dataclass(frozen=True, slots=True)
class BenchOptions:
    servers: tuple[Server, ...] = SERVERS
    transports: tuple[Transport, ...] = TRANSPORTS
    seconds: float = 4.0  # per phase and per target
    output: Path | None = None
    command: str = "tollgate bench"


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


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


def issue_key(config: Path, env: dict[str, str]) -> str | None:
    """A customer key from ``tollgate keys create`` on the bench's own database (the key is its last
    line of output); ``None`` where that command fails, and the gateway is then called without one."""
    command = [sys.executable, "-m", "gateway.cli", "keys", "create", "--config", str(config)]
    command += ["--customer", "bench", "--name", "bench"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stdout.split()
    if done.returncode != 0 or not lines:
        _log(f"no customer key ({' '.join(command[3:5])} exited with {done.returncode}); calling without one")
        return None
    return lines[-1]


def write_config(directory: Path, name: str, upstream_port: int, transport: Transport) -> Path:
    """One variant's config: the upstream as its only backend, and everything it writes (database,
    usage journal) inside ``directory``, never in the working directory's ``.tollgate``."""
    config: dict[str, object] = {
        "backends": {"bench-upstream": {"type": "openai_compatible", "base_url": f"http://{HOST}:{upstream_port}/v1"}},
        "models": [{"name": MODEL, "kind": "chat", "deployments": [{"backend": "bench-upstream", "model": MODEL}]}],
        "database_url": f"sqlite+aiosqlite:///{directory / f'{name}.db'}",
    }
    if "journal_dir" in Settings.__struct_fields__:
        config["journal_dir"] = str(directory / f"{name}-journal")
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def server_command(server: Server, port: int) -> list[str]:
    """One worker, uvloop, no access log; uvicorn with httptools."""
    listen = ["--host", HOST, "--port", str(port)]
    if server == "uvicorn":
        options = "--loop uvloop --http httptools --no-access-log --log-level warning"
        return [sys.executable, "-m", "uvicorn", "--factory", FACTORY, *listen, *options.split()]
    options = "--interface asgi --factory --loop uvloop --workers 1 --no-ws --no-access-log --log-level warning"
    return [sys.executable, "-m", "granian", *options.split(), *listen, FACTORY]


def _child_env(env: Mapping[str, str], config: Path | None) -> dict[str, str]:
    """The caller's environment without Tollgate's own variables (which would override the bench
    config), plus the config path."""
    child = {k: v for k, v in env.items() if not k.startswith("TOLLGATE_")}
    if config is not None:
        child["TOLLGATE_CONFIG"] = str(config)
    child["PYTHONUNBUFFERED"] = "1"
    return child


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group for the duration of the block."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # workers the server left behind, if any


async def wait_ready(process: subprocess.Popen[bytes], port: int, path: str, log: Path, within: float = 60) -> None:
    request = encode_request("GET", path, f"{HOST}:{port}")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{log.stem} exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, BenchError):
            if await fetch_status(HOST, port, request) == 200:
                return
        await asyncio.sleep(0.1)
    raise BenchError(f"{log.stem}: no answer on http://{HOST}:{port}{path} within {within:.0f} s")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@dataclass(frozen=True, slots=True)
class Target:
    """One system under load: the upstream called directly, or one gateway variant. ``pids`` are
    the processes (and process groups) whose CPU time is its own."""

    label: str
    pool: Pool
    plain: bytes
    streamed: bytes
    pids: frozenset[int]


@dataclass(slots=True)
class _Tally:
    samples: list[Samples]
    cpu: list[float]
    machine: float = 0.0
    ours: float = 0.0
    wall: float = 0.0


async def measure(phase: Phase, targets: list[Target], seconds: float) -> list[PhaseResult]:
    """Every target, twice, in the order first to last then last to first (the direct upstream
    first and last), so that all see the same machine state on average. Each slot lasts half of
    ``seconds``, follows a short untimed run that settles the target, and is followed by a pause in
    which the target finishes its background work (counted in its CPU time, and not left to slow the
    next target). One result per gateway."""
    ours = frozenset().union(*(t.pids for t in targets), {os.getpid()})
    groups = (*(t.pids for t in targets), ours)
    tally = _Tally([Samples() for _ in targets], [0.0] * len(targets))
    for i in [*range(len(targets)), *reversed(range(len(targets)))]:
        target = targets[i]
        request = target.streamed if phase.stream else target.plain
        await target.pool.run(request, concurrency=phase.concurrency, seconds=_SETTLE_SECONDS)
        before, began = cpu_snapshot(groups), time.perf_counter()
        samples = await target.pool.run(
            request, concurrency=phase.concurrency, seconds=seconds / 2, track_first=phase.stream
        )
        await asyncio.sleep(_QUIESCE_SECONDS)  # the target's background work (the usage drain) is its own
        after = cpu_snapshot(groups)
        tally.samples[i].merge(samples)
        tally.cpu[i] += after.groups[i] - before.groups[i]
        tally.machine += after.machine - before.machine
        tally.ours += after.groups[-1] - before.groups[-1]
        tally.wall += time.perf_counter() - began
    capacity = tally.wall * len(os.sched_getaffinity(0))
    other = max(tally.machine - tally.ours, 0.0) / capacity
    direct = summarize(tally.samples[0])
    return [
        PhaseResult(direct, summarize(samples), _per_request_us(cpu, samples), other)
        for samples, cpu in zip(tally.samples[1:], tally.cpu[1:], strict=True)
    ]


def _per_request_us(cpu_seconds: float, samples: Samples) -> float:
    return cpu_seconds * 1e6 / len(samples.latencies) if samples.latencies else math.nan


async def _start_gateways(
    stack: contextlib.ExitStack,
    variants: list[tuple[Server, Transport]],
    upstream_port: int,
    workdir: Path,
    env: Mapping[str, str],
) -> list[Target]:
    """Start every variant at once (each with its own config, database and key) and wait for all."""
    started = []
    for server, transport in variants:
        name = f"{server}-{transport}"
        config = write_config(workdir, name, upstream_port, transport)
        key = issue_key(config, _child_env(env, None))
        port, log = free_port(), workdir / f"{name}.log"
        process = stack.enter_context(running(server_command(server, port), _child_env(env, config), log))
        started.append((f"{server} + {transport}", process, port, log, key))
    targets = []
    for label, process, port, log, key in started:
        await wait_ready(process, port, "/healthz", log)
        plain, streamed = _requests(port, key)
        targets.append(
            Target(label, await Pool.open(HOST, port, _POOL_SIZE), plain, streamed, frozenset({process.pid}))
        )
    return targets


def _brief(label: str, result: PhaseResult) -> str:
    gateway = result.gateway
    return (
        f"{label}: {gateway.rps:,.0f} req/s, p50 {gateway.p50_ms:.3f} ms, {result.gateway_cpu_us:,.0f} µs CPU/req, "
        f"errors {gateway.errors} (direct: {result.direct.rps:,.0f} req/s, p50 {result.direct.p50_ms:.3f} ms; "
        f"other processes {result.other_cpu:.0%} of the CPUs)"
    )


async def _measure_all(
    targets: list[Target], variants: list[tuple[Server, Transport]], seconds: float
) -> list[VariantResult]:
    results = [VariantResult(server, transport) for server, transport in variants]
    for target in targets:  # warm-up: connections, caches, the gateways' upstream pools
        for request in (target.plain, target.streamed):
            await target.pool.run(request, concurrency=_POOL_SIZE, seconds=0.5)
    for phase in PHASES:
        for result, measured in zip(results, await measure(phase, targets, seconds), strict=True):
            result.phases[phase.name] = measured
            _log(f"{phase.name}: {_brief(result.label, measured)}")
    return results


async def run_bench(options: BenchOptions, env: Mapping[str, str]) -> list[VariantResult]:
    variants = [(server, transport) for server in options.servers for transport in options.transports]
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        upstream_port = free_port()
        command = [sys.executable, "-m", "gateway.bench.upstream", "--host", HOST, "--port", str(upstream_port)]
        log = workdir / "upstream.log"
        upstream = stack.enter_context(running(command, _child_env(env, None), log))
        await wait_ready(upstream, upstream_port, "/v1/models", log)
        plain, streamed = _requests(upstream_port)
        direct = Target(
            "direct", await Pool.open(HOST, upstream_port, _POOL_SIZE), plain, streamed, frozenset({upstream.pid})
        )
        _log(f"starting {len(variants)} gateway(s): " + ", ".join(f"{s} + {t}" for s, t in variants))
        targets = [direct, *await _start_gateways(stack, variants, upstream_port, workdir, env)]
        try:
            return await _measure_all(targets, variants, options.seconds)
        finally:
            for target in targets:
                target.pool.close()


def main(options: BenchOptions, env: Mapping[str, str]) -> int:
    """Run the bench, print the report, and write it to ``options.output`` when given."""
    import uvloop

    started, code = datetime.datetime.now(datetime.UTC), revision()  # what the gateways will import
    clock = time.monotonic()
    try:
        results = uvloop.run(run_bench(options, env))
    except BenchError as exc:
        print(f"tollgate bench: {exc}", file=sys.stderr)
        return 1
    report = render(results, Header(options.command, options.seconds, started, time.monotonic() - clock, code))
    print(report)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(report)
    return 0


def options(server: str, transport: str, seconds: float, output: str | None) -> BenchOptions:
    """Options from the command line's choices ("both" or one name); the report quotes the command."""
    servers = SERVERS if server == "both" else tuple(s for s in SERVERS if s == server)
    transports = TRANSPORTS if transport == "both" else tuple(t for t in TRANSPORTS if t == transport)
    if not servers or not transports or seconds <= 0:
        raise ValueError(f"bad bench options: server={server!r} transport={transport!r} duration={seconds!r}")
    command = f"tollgate bench --server {server} --transport {transport} --duration {seconds:g}"
    if output:
        command += f" --output {output}"
    return BenchOptions(servers, transports, seconds, Path(output) if output else None, command)
