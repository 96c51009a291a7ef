"""What the scale-out benchmark runs beside the gateways: a private Redis, a fresh Postgres database,
HAProxy in front, and the readings taken from them (commands, transactions, rows, memory)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.load import BenchError
from benchmarks.procs import HOST, free_port, running

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def require(program: str) -> str:
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if found is None:
        raise BenchError(f"{program} is not installed (make deploy-tools installs it)")
    return found


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A Redis of the bench's own, so that its command count is the gateways' alone."""
    port = free_port()
    command = [require("redis-server"), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with running(command, {}, workdir / "redis.log") as process:
        yield process, port


@dataclass(frozen=True, slots=True)
class RedisReading:
    commands: int  # every command executed, those that scripts run included
    scripts: int  # EVAL/EVALSHA calls: admission's round trips (reserve, settle)


def redis_reading(port: int) -> RedisReading:
    done = subprocess.run(
        [require("redis-cli"), "-p", str(port), "info", "everything"], capture_output=True, text=True, timeout=10
    )
    commands, scripts = -1, 0
    for line in done.stdout.splitlines():
        if line.startswith("total_commands_processed:"):
            commands = int(line.split(":")[1])
        elif line.startswith(("cmdstat_eval:", "cmdstat_evalsha:")):  # cmdstat_evalsha:calls=3,usec=...
            scripts += int(line.partition(":")[2].split(",")[0].removeprefix("calls="))
    if commands < 0:
        raise BenchError(f"redis-cli info: {done.stderr or done.stdout}")
    return RedisReading(commands, scripts)


@contextlib.asynccontextmanager
async def scratch_database(server: str) -> AsyncIterator[tuple[str, str]]:
    """A new, migrated Postgres database on ``server`` (its SQLAlchemy URL and name), dropped afterwards."""
    from gateway.db.migrate import upgrade

    name = f"tollgate_bench_{uuid.uuid4().hex[:10]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        yield url, name
    finally:
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server: str, statement: str) -> None:
    engine = create_async_engine(_async_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _async_url(server: str) -> str:
    return make_url(server).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class PostgresReading:
    transactions: int  # commits in the bench's database
    rows_written: int  # rows inserted or updated there
    backends: frozenset[int]  # server processes serving it (for their CPU time)


async def postgres_reading(server: str, database: str) -> PostgresReading:
    """pg_stat_database counters, after waiting out their one-second flush interval."""
    await asyncio.sleep(1.2)
    engine = create_async_engine(_async_url(server), isolation_level="AUTOCOMMIT")
    stats = "SELECT xact_commit, tup_inserted + tup_updated FROM pg_stat_database WHERE datname = :name"
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text(stats), {"name": database})).first()
            pids = (await connection.execute(text(_BACKENDS), {"name": database})).scalars().all()
    finally:
        await engine.dispose()
    if row is None:
        raise BenchError(f"no statistics for database {database}")
    return PostgresReading(int(row[0]), int(row[1]), frozenset(int(pid) for pid in pids))


_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = :name"


def haproxy_config(port: int, gateway_ports: list[int]) -> str:
    """Round robin over the gateways, keep-alive on both sides, one thread (the machine has two cores)."""
    servers = "\n".join(f"    server g{i} {HOST}:{p}" for i, p in enumerate(gateway_ports))
    return f"""global
    maxconn 4096
    nbthread 1

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-keep-alive

frontend api
    bind {HOST}:{port}
    default_backend gateways

backend gateways
    balance roundrobin
    http-reuse always
{servers}
"""


@contextlib.contextmanager
def load_balancer(workdir: Path, gateway_ports: list[int]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    config = workdir / f"haproxy-{len(gateway_ports)}.cfg"
    config.write_text(haproxy_config(port, gateway_ports))
    with running([require("haproxy"), "-db", "-f", str(config)], {}, workdir / "haproxy.log") as process:
        yield process, port


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 when it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


_PERIOD_US = 100_000


def _cpu_cgroups() -> Path:
    """Where CPU-limited groups can be made: cgroup v2 with its cpu controller, or v1's cpu hierarchy."""
    root = Path("/sys/fs/cgroup")
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        (root / "cgroup.subtree_control").write_text("+cpu")
        return root
    if (root / "cpu" / "cpu.cfs_quota_us").exists():
        return root / "cpu"
    raise BenchError("no cgroup CPU controller here (needed by --cpu-per-gateway)")


@contextlib.contextmanager
def cpu_limit(name: str, cpus: float) -> Iterator[Path]:
    """A cgroup whose processes together get at most ``cpus`` CPUs (a CFS quota, as a Kubernetes CPU
    limit sets); removed afterwards, once its processes are gone."""
    path = _cpu_cgroups() / name
    path.mkdir()
    quota = int(cpus * _PERIOD_US)
    if (path / "cpu.max").exists():
        (path / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
    else:
        (path / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
        (path / "cpu.cfs_quota_us").write_text(str(quota))
    try:
        yield path
    finally:
        for _ in range(50):  # the kernel refuses while a process is still leaving
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def inside(group: Path, command: list[str]) -> list[str]:
    """``command``, started inside ``group`` (it joins before it execs, so its children are in it too)."""
    return ["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh", *command]
