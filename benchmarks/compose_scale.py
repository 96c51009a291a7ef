"""``python -m benchmarks.compose_scale --gateways 1,2,4``: scale-out measured on the compose stack.

1, 2 and 4 gateway containers behind the HAProxy container, on the stack's shared Postgres and Redis
containers (``docker/compose.yaml`` with ``docker/compose.scale.yaml``, project ``tollgate-scale``,
port 18100, so that it never touches a ``tollgate`` stack). Exactness first (usage rows in Postgres
against the 200s answered, none twice; a per-minute limit held across the gateways), then throughput
per gateway CPU (the containers' cgroups) beside the machine's load. Needs a Docker engine
(``tools/docker_engine.sh start``) and the images ``make stack-up`` builds; removes its containers and
volumes when done. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.compose_scale_report import PARTS, StackExactness, StackResult, render
from benchmarks.load import BenchError, Pool, cpu_snapshot, encode_request, fetch_status, summarize
from benchmarks.procs import HOST, log
from benchmarks.run import MODEL, _requests
from benchmarks.scale_checks import burst, chat

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "tollgate-scale"
PORT = 18100
GATEWAYS = ("gateway-1", "gateway-2", "gateway-3", "gateway-4")
CONCURRENCY = 64
RPM = 30
DEBIAN_IMAGES = {
    "POSTGRES_IMAGE": "tollgate-debian/postgres:bookworm",
    "REDIS_IMAGE": "tollgate-debian/redis:bookworm",
    "HAPROXY_IMAGE": "tollgate-debian/haproxy:bookworm",
}


def _run(command: list[str], env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command[:6])} ... exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def _has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False).returncode == 0


@dataclass(frozen=True, slots=True)
class Compose:
    """The benchmark's own compose project, and what it reads from its containers."""

    env: dict[str, str]
    admin_token: str

    @classmethod
    def for_environment(cls, env: Mapping[str, str]) -> Compose:
        token = secrets.token_hex(24)
        settings = {**env, "STACK_PORT": str(PORT), "TOLLGATE_ADMIN_TOKEN": token, "TOLLGATE_METRICS_TOKEN": ""}
        settings.setdefault("TOLLGATE_IMAGE", "tollgate:latest")
        settings.setdefault("COMPOSE_HTTP_TIMEOUT", "300")
        settings["TOLLGATE_CONFIG_FILE"] = "./tollgate-scale.yaml"  # relative to docker/, as compose reads it
        if not _has_image("postgres:16-alpine"):  # no registry: the images tools/stack.sh built from Debian
            for name, image in DEBIAN_IMAGES.items():
                settings.setdefault(name, image)
        return cls(settings, token)

    def __call__(self, *args: str) -> str:
        files = ["-p", PROJECT, "-f", "docker/compose.yaml", "-f", "docker/compose.scale.yaml"]
        v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
        base = ["docker", "compose"] if v2 else [shutil.which("docker-compose") or "docker-compose"]
        return _run([*base, *files, *args], self.env)

    def container(self, service: str) -> str:
        labels = [f"label=com.docker.compose.project={PROJECT}", f"label=com.docker.compose.service={service}"]
        found = _run(["docker", "ps", "-q", "--no-trunc", "--filter", labels[0], "--filter", labels[1]])
        if not found:
            raise BenchError(f"no running container for {service}")
        return found.splitlines()[0]

    def address(self, service: str) -> str:
        """A gateway's own address on the bridge network, which the host reaches."""
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return f"http://{_run(['docker', 'inspect', '-f', template, self.container(service)])}:8000"

    def sql(self, query: str) -> list[str]:
        psql = ["psql", "-U", "tollgate", "-d", "tollgate", "-Atc", query]
        return _run(["docker", "exec", self.container("postgres"), *psql]).splitlines()

    def healthy(self, service: str) -> bool:
        template = "{{.State.Health.Status}}"
        return _run(["docker", "inspect", "-f", template, self.container(service)]) == "healthy"


def container_cpu(container: str) -> float:
    """CPU seconds a container has used: its cgroup's, read on the host (cgroup v1 or v2)."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage",
        f"/sys/fs/cgroup/cpu,cpuacct/docker/{container}/cpuacct.usage",
    ):
        if os.path.exists(path):
            return int(Path(path).read_text()) / 1e9
    for path in (
        f"/sys/fs/cgroup/docker/{container}/cpu.stat",
        f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat",
    ):
        if os.path.exists(path):
            stat = dict(line.split() for line in Path(path).read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
    raise BenchError(f"no cgroup CPU account found for container {container[:12]}")


def _load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def _until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(1)


async def _admin(
    http: aiohttp.ClientSession, compose: Compose, path: str, body: dict[str, object]
) -> dict[str, object]:
    headers = {"authorization": f"Bearer {compose.admin_token}"}
    async with http.post(f"http://{HOST}:{PORT}/admin{path}", json=body, headers=headers) as response:
        if response.status >= 300:
            raise BenchError(f"admin {path}: {response.status} {await response.text()}")
        answer: dict[str, object] = await response.json()
        return answer


async def new_key(compose: Compose, customer: str, **limits: int) -> str:
    async with aiohttp.ClientSession() as http:
        await _admin(http, compose, "/customers", {"name": customer})
        created = await _admin(http, compose, "/keys", {"customer": customer, **limits})
    return str(created["key"])


async def served(addresses: list[str]) -> list[int]:
    """Each gateway's ``tollgate_requests_total{status="200"}``."""
    totals = []
    async with aiohttp.ClientSession() as http:
        for address in addresses:
            async with http.get(f"{address}/metrics") as response:
                exposition = await response.text()
            totals.append(
                int(
                    sum(
                        sample.value
                        for family in text_string_to_metric_families(exposition)
                        for sample in family.samples
                        if sample.name == "tollgate_requests_total" and sample.labels.get("status") == "200"
                    )
                )
            )
    return totals


def usage(compose: Compose, customer: str) -> tuple[int, int]:
    """The customer's usage rows in Postgres, and their distinct request ids."""
    query = (
        "SELECT count(*), count(DISTINCT e.request_id) FROM usage_events e JOIN customers c"
        f" ON c.id = e.customer_id WHERE c.name = '{customer}'"
    )
    rows, distinct = compose.sql(query)[0].split("|")
    return int(rows), int(distinct)


async def drained(compose: Compose, customer: str, expected: int, within: float = 60.0) -> tuple[int, int]:
    """Until the customer's rows reach ``expected`` or stop growing for 10 s (then the count is reported)."""
    last, still, deadline = (-1, -1), time.monotonic(), time.monotonic() + within
    while time.monotonic() < deadline:
        now = await asyncio.to_thread(usage, compose, customer)
        if now[0] >= expected:
            await asyncio.sleep(2)  # a row counted twice would come after
            return await asyncio.to_thread(usage, compose, customer)
        if now != last:
            last, still = now, time.monotonic()
        elif time.monotonic() - still > 10:
            break
        await asyncio.sleep(0.5)
    return last


async def start(compose: Compose, count: int) -> list[str]:
    """Exactly ``count`` gateways up and healthy, HAProxy restarted in front of them; their addresses."""
    wanted, extra = list(GATEWAYS[:count]), list(GATEWAYS[count:])
    if extra:  # `rm -sf` without services would remove them all
        await asyncio.to_thread(compose, "rm", "-sf", *extra)
    await asyncio.to_thread(compose, "up", "-d", "--no-build", *wanted)
    for service in wanted:
        await _until(functools.partial(compose.healthy, service), f"{service} healthy", 180)
    await asyncio.to_thread(compose, "up", "-d", "--no-deps", "--force-recreate", "lb")
    probe = encode_request("GET", "/healthz", f"{HOST}:{PORT}")
    deadline = time.monotonic() + 60
    while not await _answers(probe):
        if time.monotonic() > deadline:
            raise BenchError("the load balancer did not answer within 60 s")
        await asyncio.sleep(1)
    await asyncio.sleep(5)  # HAProxy's first health checks (inter 2s, rise 2) over every server
    return [compose.address(service) for service in wanted]


async def _answers(probe: bytes) -> bool:
    try:
        return await fetch_status(HOST, PORT, probe) == 200
    except (OSError, BenchError):
        return False


def _cpu(groups: dict[str, list[str]]) -> dict[str, float]:
    readings = {part: sum(container_cpu(c) for c in containers) for part, containers in groups.items()}
    readings["load generator"] = sum(os.times()[:2])
    return readings


async def one_count(compose: Compose, count: int, seconds: float) -> StackResult:
    addresses = await start(compose, count)
    bench, limited = f"scale-{count}-{secrets.token_hex(3)}", f"limited-{count}-{secrets.token_hex(3)}"
    key = await new_key(compose, bench, rpm=100_000_000, tpm=2_000_000_000)  # admitted through Redis
    limited_key = await new_key(compose, limited, rpm=RPM)
    groups = {
        "gateways": [compose.container(s) for s in GATEWAYS[:count]],
        "haproxy": [compose.container("lb")],
        "postgres": [compose.container("postgres")],
        "redis": [compose.container("redis")],
    }
    before_served = await served(addresses)
    plain, _ = _requests(PORT, key)
    pool = await Pool.open(HOST, PORT, CONCURRENCY)
    try:
        warm = await pool.run(plain, concurrency=CONCURRENCY, seconds=1.0)
        load_before, cpu_before, machine_before = _load_average(), _cpu(groups), cpu_snapshot(())
        began = time.perf_counter()
        samples = await pool.run(plain, concurrency=CONCURRENCY, seconds=seconds)
        wall = time.perf_counter() - began
        cpu_after, machine_after, load_after = _cpu(groups), cpu_snapshot(()), _load_average()
    finally:
        pool.close()
    statuses = [a.status for a in await burst(PORT, limited_key, 2 * RPM, chat(MODEL))]
    answered = len(warm.latencies) + len(samples.latencies)
    rows, distinct = await drained(compose, bench, answered)
    burst_rows, _ = await drained(compose, limited, statuses.count(200))
    after_served = await served(addresses)
    exact = StackExactness(
        answered=answered,
        rows=rows,
        distinct=distinct,
        limit=RPM,
        burst=2 * RPM,
        burst_ok=statuses.count(200),
        burst_limited=statuses.count(429),
        burst_rows=burst_rows,
        served=[a - b for a, b in zip(after_served, before_served, strict=True)],
    )
    capacity = wall * len(os.sched_getaffinity(0))
    return StackResult(
        gateways=count,
        load=summarize(samples),
        wall=wall,
        cpu_seconds={part: cpu_after[part] - cpu_before[part] for part in PARTS},
        machine_busy=(machine_after.machine - machine_before.machine) / capacity,
        load_average=(load_before, load_after),
        exact=exact,
    )


async def measure(compose: Compose, counts: Sequence[int], seconds: float) -> list[StackResult]:
    results = []
    try:
        for count in counts:
            results.append(await one_count(compose, count, seconds))
            log(results[-1].brief())
    finally:
        log(f"removing the compose project {PROJECT}")
        await asyncio.to_thread(compose, "down", "-v", "--remove-orphans")
    return results


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compose_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", default="1,2,4", help="gateway counts, e.g. 1,2,4 (at most 4)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds timed per count (default 10)")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    counts = tuple(int(n) for n in args.gateways.split(","))
    if not counts or not all(1 <= n <= len(GATEWAYS) for n in counts):
        parser.error(f"--gateways: counts from 1 to {len(GATEWAYS)}")
    command = f"python -m benchmarks.compose_scale --gateways {args.gateways} --duration {args.duration:g}"
    command += f" --output {args.output}" if args.output else ""
    import uvloop

    started = datetime.datetime.now(datetime.UTC)
    try:
        results = uvloop.run(measure(Compose.for_environment(env), counts, args.duration))
    except BenchError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 1
    report = render(results, command, args.duration, started, len(os.sched_getaffinity(0)), CONCURRENCY)
    print(report)
    if args.output:
        Path(args.output).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
