"""``python -m benchmarks --scale-out``: 1, 2 and 4 gateway processes behind HAProxy on this machine,
sharing one Postgres database and one Redis, all metered, against the zero-latency upstream.

For each count it measures throughput and latency through the load balancer and the CPU time of
every part (gateways, HAProxy, upstream, Redis, the database's server processes, and the load
generator itself), then checks that nothing drifted with more replicas: every answered request
is one usage row in Postgres and one count in the gateways' metrics, a key limited to RPM
requests a minute gets exactly RPM answers out of a burst of twice as many spread over all the
replicas, and an answer one replica stored in the shared response cache is a hit on every replica,
metered as one miss and that many hits, each priced as a hit. Redis commands and Postgres
transactions and rows per request feed ``docs/capacity.md``. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from benchmarks.load import BenchError, Pool, Samples, cpu_snapshot, summarize
from benchmarks.procs import (
    HOST,
    child_env,
    free_port,
    log,
    running,
    server_command,
    upstream_command,
    wait_ready,
)
from benchmarks.run import MODEL, _requests
from benchmarks.scale_checks import (
    burst,
    bytes_per_usage_row,
    cache_entries,
    charges,
    chat,
    metric_total,
    stored,
    usage_rows,
)
from benchmarks.scale_report import PARTS, CacheCheck, Costs, Exactness, ScaleResult, render
from benchmarks.scale_stack import (
    DEFAULT_POSTGRES,
    cpu_limit,
    inside,
    load_balancer,
    postgres_reading,
    private_redis,
    redis_reading,
    rss_bytes,
    scratch_database,
)
from benchmarks.usage import journal_lag

CONCURRENCY = 64
CACHED = "bench-cached"  # MODEL again, with the exact response cache on (in the shared Redis)


@dataclass(frozen=True, slots=True)
class ScaleOptions:
    counts: tuple[int, ...] = (1, 2, 4)
    seconds: float = 10.0
    rpm: int = 30
    postgres: str = DEFAULT_POSTGRES
    cpu_per_gateway: float | None = None  # each gateway (its loop and its drain) limited to this many CPUs


@dataclass(frozen=True, slots=True)
class Shared:
    """What every gateway of the run shares."""

    workdir: Path
    upstream: subprocess.Popen[bytes]
    upstream_port: int
    redis: subprocess.Popen[bytes]
    redis_port: int
    database_url: str
    database: str
    postgres: str


def write_config(shared: Shared, name: str) -> Path:
    models = [
        {
            "name": public,
            "deployments": [{"backend": "up", "model": MODEL}],
            "pricing": {"input_per_mtok": "1.00", "output_per_mtok": "2.00"},
            **extra,
        }
        for public, extra in ((MODEL, {}), (CACHED, {"cache": {"exact": True}}))
    ]
    config = {
        "backends": {"up": {"type": "openai_compatible", "base_url": f"http://{HOST}:{shared.upstream_port}/v1"}},
        "models": models,
        "database_url": shared.database_url,
        "redis_url": f"redis://{HOST}:{shared.redis_port}/0",
        "journal_dir": str(shared.workdir / f"{name}-journal"),  # one journal per replica, as in production
    }
    path = shared.workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def scale_out(options: ScaleOptions, env: Mapping[str, str]) -> list[ScaleResult]:
    with tempfile.TemporaryDirectory(prefix="tollgate-scale-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        port = free_port()
        upstream = stack.enter_context(running(upstream_command(port), child_env(env, None), workdir / "up.log"))
        await wait_ready(upstream, port, "/v1/models", workdir / "up.log")
        redis, redis_port = stack.enter_context(private_redis(workdir))
        async with scratch_database(options.postgres) as (url, name):
            shared = Shared(workdir, upstream, port, redis, redis_port, url, name, options.postgres)
            # Limits far above the load, so that every request is admitted through Redis as in production.
            key = _key(shared, "bench", env, "--rpm", "100000000", "--tpm", "2000000000")
            results = []
            for count in options.counts:
                results.append(await _one_count(shared, count, key, options, env))
                log(results[-1].brief())
            size = await bytes_per_usage_row(url)
            results[-1].notes.append(f"usage_events in Postgres: {size:,.0f} bytes per row, indexes included")
    return results


async def _one_count(
    shared: Shared, count: int, key: str, options: ScaleOptions, env: Mapping[str, str]
) -> ScaleResult:
    limited = _key(shared, f"limited-{count}", env, "--rpm", str(options.rpm))
    with contextlib.ExitStack() as stack:
        gateways = []
        for i in range(count):
            name = f"n{count}-g{i}"
            config, port = write_config(shared, name), free_port()
            output = shared.workdir / f"{name}.log"
            command = server_command("uvicorn", port)
            if options.cpu_per_gateway is not None:  # like a pod's CPU limit
                limit = cpu_limit(f"tollgate-{shared.workdir.name}-{name}", options.cpu_per_gateway)
                group = stack.enter_context(limit)
                command = inside(group, command)
            process = stack.enter_context(running(command, child_env(env, config), output))
            gateways.append((process, port, output))
        for process, port, output in gateways:
            await wait_ready(process, port, "/healthz", output)
        balancer, lb_port = stack.enter_context(load_balancer(shared.workdir, [p for _, p, _ in gateways]))
        await wait_ready(balancer, lb_port, "/healthz", shared.workdir / "haproxy.log")
        plain, _ = _requests(lb_port, key)
        pool = await Pool.open(HOST, lb_port, CONCURRENCY)
        try:
            rows_before = await usage_rows(shared.database_url)
            warm = await pool.run(plain, concurrency=CONCURRENCY, seconds=1.0)
            samples, costs = await _timed(shared, pool, plain, options.seconds, [g[0].pid for g in gateways], balancer)
        finally:
            pool.close()
        ports = [p for _, p, _ in gateways]
        exact = await _exactness(shared, ports, lb_port, key, limited, options.rpm, rows_before)
        exact.answered = len(warm.latencies) + len(samples.latencies)
        written = _journal_bytes(shared.workdir, count) / max(exact.expected_rows, 1)
        costs.rss_per_gateway = sum(rss_bytes(g[0].pid) for g in gateways) // count
        notes = [f"{count} gateway(s): usage journal {written:,.0f} bytes per request"]
        return ScaleResult(count, summarize(samples), costs, exact, notes)


async def _timed(
    shared: Shared, pool: Pool, request: bytes, seconds: float, gateways: list[int], balancer: subprocess.Popen[bytes]
) -> tuple[Samples, Costs]:
    backends = (await postgres_reading(shared.postgres, shared.database)).backends
    groups = (
        frozenset(gateways),
        frozenset({balancer.pid}),
        frozenset({shared.upstream.pid}),
        frozenset({shared.redis.pid}),
        backends,
        frozenset({os.getpid()}),
    )
    redis, db = redis_reading(shared.redis_port), await postgres_reading(shared.postgres, shared.database)
    start, began = cpu_snapshot(groups), time.perf_counter()
    samples = await pool.run(request, concurrency=CONCURRENCY, seconds=seconds)
    end, wall = cpu_snapshot(groups), time.perf_counter() - began
    redis_after = redis_reading(shared.redis_port)
    await _drained(shared.workdir)
    after = await postgres_reading(shared.postgres, shared.database)
    cpu = [end.groups[i] - start.groups[i] for i in range(len(groups))]
    capacity = wall * len(os.sched_getaffinity(0))
    return samples, Costs(
        wall=wall,
        machine_busy=(end.machine - start.machine) / capacity,
        others_busy=max(end.machine - start.machine - sum(cpu), 0.0) / capacity,
        cpu_seconds=dict(zip(PARTS, cpu, strict=True)),
        redis_commands=redis_after.commands - redis.commands,
        redis_scripts=redis_after.scripts - redis.scripts,
        pg_transactions=after.transactions - db.transactions,
        pg_rows=after.rows_written - db.rows_written,
    )


async def _drained(workdir: Path, within: float = 30.0) -> None:
    """Until every gateway's journal is in Postgres (or ``within`` seconds have passed)."""
    for _ in range(int(within * 10)):
        if not _lagging(workdir):
            return
        await asyncio.sleep(0.1)


def _journal_bytes(workdir: Path, count: int) -> int:
    return sum(segment.stat().st_size for segment in workdir.glob(f"n{count}-g*-journal/*.jsonl"))


def _lagging(workdir: Path) -> bool:
    return any(journal_lag(journal) for journal in workdir.glob("*-journal"))


def _key(shared: Shared, customer: str, env: Mapping[str, str], *limits: str) -> str:
    """A key of a new customer, issued by ``tollgate keys create`` (its last line is the key)."""
    command = [sys.executable, "-m", "gateway.cli", "keys", "create", "--config", str(write_config(shared, customer))]
    command += ["--customer", customer, *limits]
    done = subprocess.run(command, env=child_env(env, None), capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise BenchError(f"tollgate keys create exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout.split()[-1]


async def _exactness(
    shared: Shared, ports: list[int], lb_port: int, key: str, limited: str, rpm: int, rows_before: int
) -> Exactness:
    """Through the load balancer: a burst of 2 × RPM requests on a key ``limited`` to RPM a minute,
    and one cached answer asked for again from every gateway (on ``key``); then the usage rows and
    the metrics of every gateway against the answers the clients received."""
    statuses = [a.status for a in await burst(lb_port, limited, 2 * rpm, chat(MODEL))]
    # A prompt of this count's own, so that the entries of the counts before are no hits.
    body = chat(CACHED, f"cache check with {len(ports)} gateway(s)", temperature=0)
    before = cache_entries(shared.redis_port)
    first = await burst(lb_port, key, 1, body)
    await stored(shared.redis_port, before)
    repeats = await burst(lb_port, key, 4 * len(ports), body)
    await _drained(shared.workdir)
    rows = await usage_rows(shared.database_url) - rows_before
    answers = first + repeats
    charged = await charges(shared.database_url, [a.request_id for a in answers if a.request_id])
    async with aiohttp.ClientSession() as http:
        counted = [await metric_total(http, port) for port in ports]
    cache = CacheCheck(
        sent=len(repeats),
        first=first[0].cache,
        hits=sum(1 for a in repeats if a.cache == "hit"),
        ok=sum(1 for a in answers if a.status == 200),
        rows=charged,
        hits_by_gateway=[c.cache_hits for c in counted],
    )
    return Exactness(
        limit=rpm,
        burst=2 * rpm,
        burst_ok=statuses.count(200),
        burst_limited=statuses.count(429),
        rows=rows,
        metered_200=sum(c.ok for c in counted),
        metered_429=sum(c.limited for c in counted),
        cache=cache,
    )


def main(options: ScaleOptions, env: Mapping[str, str], output: Path | None, command: str) -> int:
    """Run it, print the report, and write it to ``output`` when given."""
    import uvloop

    started = datetime.datetime.now(datetime.UTC)
    try:
        results = uvloop.run(scale_out(options, env))
    except BenchError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 1
    report = render(results, command, options.seconds, started, options.cpu_per_gateway)
    print(report)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
    return 0


def main_from_args(
    counts: str, seconds: float, output: str | None, cpu_per_gateway: float | None, env: Mapping[str, str]
) -> int:
    """``python -m benchmarks --scale-out 1,2,4 [--duration S] [--cpu-per-gateway C] [--output FILE]``; Postgres
    from ``TOLLGATE_BENCH_POSTGRES`` (a server on which the user may create databases)."""
    numbers = tuple(int(n) for n in counts.split(","))
    postgres = env.get("TOLLGATE_BENCH_POSTGRES", DEFAULT_POSTGRES)
    options = ScaleOptions(numbers, seconds, postgres=postgres, cpu_per_gateway=cpu_per_gateway)
    command = f"python -m benchmarks --scale-out {counts} --duration {seconds:g}"
    command += f" --cpu-per-gateway {cpu_per_gateway:g}" if cpu_per_gateway is not None else ""
    command += f" --output {output}" if output else ""
    return main(options, env, Path(output) if output else None, command)
