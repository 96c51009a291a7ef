"""Dashboard pages against ten million usage events in Postgres, measured in one run.

Run: ``python -m tests.perf.dashboard_bench --write docs/dashboard-bench.md`` (``--events`` to
change the size). It seeds a fresh database (``dashboard_seed``), starts the gateway on it, signs
in and times every page over every range, as the server answers it on loopback (template
rendering included). For scale, the same run times the usage page's sums taken from the raw
events instead of the rollups: the ratio is what reading rollups saves.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from gateway.dashboard.periods import RANGES, periods
from gateway.db import migrate
from tests.perf.dashboard_seed import seed
from tests.support.databases import empty_database
from tests.support.gateway_process import running_gateway

PAGES = ["usage?by=customer", "usage?by=key", "usage?by=model", "cache", "latency", "errors", "customers"]
UNRANGED = ["billing", "keys"]
TIMED = 7
TOKEN = "bench-" + uuid.uuid4().hex
RAW_USAGE = """
SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, customer_id, count(*), sum(cost_micros)
FROM usage_events WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2
"""


async def _time_page(client: httpx.AsyncClient, path: str) -> list[float]:
    (await client.get(path)).raise_for_status()  # warm: connections, templates, the database's caches
    times = []
    for _ in range(TIMED):
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _time_raw(dsn: str, name: str) -> list[float]:
    span = periods(name, dt.datetime.now(dt.UTC)).span
    connection = await asyncpg.connect(dsn)
    try:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await connection.fetch(RAW_USAGE, span.start, span.end)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        await connection.close()


async def measure(events: int) -> str:
    with tempfile.TemporaryDirectory() as work:
        async with empty_database("postgres", Path(work)) as url:
            await migrate.upgrade(url)
            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            started = time.perf_counter()
            counts = await seed(dsn, events, dt.datetime.now(dt.UTC))
            seeding = time.perf_counter() - started
            config = {
                "backends": {"sim": {"type": "simulator"}},
                "models": [{"name": "model-0", "deployments": [{"backend": "sim", "model": "sim"}]}],
                "database_url": url,
                "admin_token": TOKEN,
            }
            with running_gateway(config, Path(work), env={"TOLLGATE_ADMIN_TOKEN": ""}) as gateway:
                async with httpx.AsyncClient(base_url=f"{gateway}/dashboard", timeout=60) as client:
                    signed_in = await client.post("/login", data={"token": TOKEN})
                    assert signed_in.status_code == 303, signed_in.text
                    timings = {}
                    for name in RANGES:
                        for page in PAGES:
                            sep = "&" if "?" in page else "?"
                            timings[f"/dashboard/{page}{sep}range={name}"] = await _time_page(
                                client, f"/{page}{sep}range={name}"
                            )
                    for page in UNRANGED:
                        timings[f"/dashboard/{page}"] = await _time_page(client, f"/{page}")
                    rollups = {name: timings[f"/dashboard/usage?by=customer&range={name}"] for name in RANGES}
                    raw = {name: await _time_raw(dsn, name) for name in RANGES}
    return report(events, counts, seeding, timings, rollups, raw, os.getloadavg()[0])


def report(
    events: int,
    counts: dict[str, int],
    seeding: float,
    timings: dict[str, list[float]],
    rollups: dict[str, list[float]],
    raw: dict[str, list[float]],
    load: float,
) -> str:
    lines = [
        "# Dashboard pages over ten million usage events",
        "",
        f"Command: `python -m tests.perf.dashboard_bench --events {events} --write docs/dashboard-bench.md`",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()},"
        f" Python {platform.python_version()}), Postgres on loopback; {os.cpu_count()} cores shared with other"
        f" work (load average {load:.1f} when the timing ended).",
        f"Seeding took {seeding:.0f} s. Rows: "
        + ", ".join(f"`{table}` {count:,}" for table, count in counts.items())
        + ".",
        "",
        f"Each page: one warm-up request, then {TIMED} timed ones, measured by the client on loopback (server",
        "time plus a loopback round trip; the templates' rendering included). Milliseconds.",
        "",
        "| page | median | max |",
        "|---|---:|---:|",
    ]
    for path, times in timings.items():
        lines.append(f"| `{path}` | {statistics.median(times):.1f} | {max(times):.1f} |")
    lines += [
        "",
        "Reading the rollups against reading the raw events: the usage page's sums (per day or hour and",
        "customer) taken from `usage_events` directly, median of 3, against the whole usage page.",
        "",
        "| range | page from rollups (ms) | the same sums from raw events (ms) | raw / rollups |",
        "|---|---:|---:|---:|",
    ]
    for name in RANGES:
        page, direct = statistics.median(rollups[name]), statistics.median(raw[name])
        lines.append(f"| {name} | {page:.1f} | {direct:.1f} | {direct / page:.1f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--write", type=Path, help="write the report here as well as to stdout")
    args = parser.parse_args()
    text = asyncio.run(measure(args.events))
    sys.stdout.write(text)
    if args.write is not None:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
