"""Soak: mixed load through two gateway replicas sharing Postgres and Redis behind a load balancer.

Streaming and not, embeddings, client disconnects, invalid requests, unknown models and rate-limit
rejections (and cache hits with ``--repeat-prompts``, which turns on the exact response cache) for
``--minutes``. It samples each replica's memory (RSS) as it goes, and at the end checks that the usage
events in Postgres are exactly the requests served, request by request, with the cost each answer
announced, and that the hourly rollups add up to the events to the micro-dollar.

    python -m tests.perf.soak --minutes 10 --output docs/soak.md
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.perf.soak_load import Keys, Tally, drive
from tests.support.databases import migrated_database
from tests.support.gateway_process import start_gateway, stop
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config
from tests.support.tcp_proxy import running_proxy

REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Outcome:
    tally: Tally
    rss_kib: dict[str, list[tuple[float, int]]]
    problems: list[str] = field(default_factory=list)
    events: int = 0
    total_micros: int = 0
    cache_hits: int = 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def sample_memory(pids: dict[str, int], every: float, into: dict[str, list[tuple[float, int]]]) -> None:
    started = time.monotonic()
    while True:
        for name, pid in pids.items():
            into.setdefault(name, []).append((time.monotonic() - started, rss_kib(pid)))
        await asyncio.sleep(every)


async def soak(seconds: float, concurrency: int, repeat: bool, seed: int) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="tollgate-soak-") as tmp:
        root = Path(tmp)
        async with migrated_database("postgres", root) as database_url:
            replicas = []
            try:
                for name in ("a", "b"):
                    workdir = root / name
                    workdir.mkdir()
                    config = sim_config(workdir, database_url=database_url, redis_url=REDIS)
                    config.update(redis_namespace=f"soak-{uuid.uuid4().hex[:8]}", max_request_bytes=1 << 20)
                    config["backends"]["sim"].update(ttft_ms=5, inter_token_ms=2)
                    if repeat:  # repeated prompts are answered from the response cache, shared through Redis
                        for model in config["models"]:
                            if model.get("kind", "chat") == "chat":
                                model["cache"] = {"exact": True, "nondeterministic": True}
                    replicas.append(start_gateway(config, workdir))
                return await _run(replicas, database_url, seconds, concurrency, repeat, seed)
            finally:
                for _, process in replicas:
                    stop(process)


async def _run(
    replicas: list[tuple[str, Any]], database_url: str, seconds: float, concurrency: int, repeat: bool, seed: int
) -> Outcome:
    ports = [("127.0.0.1", int(url.rsplit(":", 1)[1])) for url, _ in replicas]
    keys = await asyncio.to_thread(_customers, replicas[0][0])
    rss: dict[str, list[tuple[float, int]]] = {}
    pids = {f"replica {n}": process.pid for n, (_, process) in zip("ab", replicas, strict=True)}
    sampler = asyncio.create_task(sample_memory(pids, max(seconds / 60, 1.0), rss))
    with running_proxy(*ports) as balancer:
        tally = await drive(
            f"http://127.0.0.1:{balancer.port}",
            keys,
            seconds=seconds,
            concurrency=concurrency,
            repeat=repeat,
            seed=seed,
        )
    sampler.cancel()
    outcome = Outcome(tally, rss)
    await _account(outcome, database_url)
    return outcome


def _customers(url: str) -> Keys:
    """A customer without limits, and one whose 30 requests a minute the load soon exceeds."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        main = add_customer(admin, "soak")
        admin.post("/admin/customers", json={"name": "limited", "rpm": 30}).raise_for_status()
        limited = admin.post("/admin/keys", json={"customer": "limited"}).json()["key"]
    return Keys(main, limited)


async def _account(outcome: Outcome, database_url: str) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    db = await asyncpg.connect(dsn)
    try:
        expected = {s.request_id: s for s in outcome.tally.served}
        deadline = time.monotonic() + 120
        while True:  # the drains write in batches; give them time to catch up
            rows = await db.fetch("SELECT request_id, cost_micros, outcome, cache_status FROM usage_events")
            if len(rows) >= len(expected) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        stored = {row["request_id"]: row for row in rows}
        outcome.events = len(stored)
        outcome.total_micros = sum(row["cost_micros"] for row in rows)
        outcome.cache_hits = sum(row["cache_status"] != "miss" for row in rows)
        rollup = await db.fetchval("SELECT coalesce(sum(cost_micros), 0) FROM usage_rollups")
    finally:
        await db.close()
    missing, extra = expected.keys() - stored.keys(), stored.keys() - expected.keys()
    if missing or extra:
        outcome.problems.append(f"{len(missing)} served requests without a usage event, {len(extra)} events unserved")
    wrong = [
        rid
        for rid, s in expected.items()
        if rid in stored and s.cost_usd is not None and Decimal(stored[rid]["cost_micros"]) / 10**6 != s.cost_usd
    ]
    if wrong:
        outcome.problems.append(f"{len(wrong)} events whose cost differs from the answer's, e.g. {wrong[0]}")
    if rollup != outcome.total_micros:
        outcome.problems.append(f"rollups total {rollup} micro-dollars, events {outcome.total_micros}")


def report(outcome: Outcome, command: str, seconds: float) -> str:
    tally = outcome.tally
    kinds: dict[str, int] = {}
    for served in tally.served:
        kinds[served.kind] = kinds.get(served.kind, 0) + 1
    lines = [
        "# Soak",
        "",
        f"Command: `{command}`",
        "",
        f"Two replicas (uvicorn, one worker each) sharing Postgres and Redis behind a round-robin TCP balancer, "
        f"for {seconds:g} s, on the shared 2-core development machine (other engineers' work ran beside it).",
        "",
        "## Requests",
        "",
        f"- served (200, each must have one usage event): {len(tally.served)} — "
        + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())),
        "- refused (never metered): " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.refused.items())),
        f"- usage events in Postgres: {outcome.events}; their cost: {Decimal(outcome.total_micros) / 10**6} USD; "
        f"answered from the response cache: {outcome.cache_hits}",
        "",
        "## Memory (RSS, MiB) per replica",
        "",
        "| t (s) | " + " | ".join(outcome.rss_kib) + " |",
        "|---|" + "---|" * len(outcome.rss_kib),
    ]
    series = list(outcome.rss_kib.values())
    count = min(len(s) for s in series)
    for i in sorted({round(j * (count - 1) / 11) for j in range(12)}):
        lines.append(f"| {series[0][i][0]:.0f} | " + " | ".join(f"{s[i][1] / 1024:.1f}" for s in series) + " |")
    lines += [
        "",
        "After warm-up (the first fifth), per replica: " + "; ".join(_growth(n, s) for n, s in outcome.rss_kib.items()),
    ]
    lines += ["", "## Checks", ""]
    lines += [f"- FAILED: {p}" for p in outcome.problems] or [
        "- every served request has exactly one usage event, and no event lacks a served request",
        "- each event's cost equals the cost its answer announced (header or final usage chunk), to the micro-dollar",
        "- the hourly rollups add up to the events, to the micro-dollar",
    ]
    return "\n".join(lines) + "\n"


def _growth(name: str, samples: list[tuple[float, int]]) -> str:
    warm = samples[len(samples) // 5 :]
    first, last = statistics.mean(s[1] for s in warm[:3]), statistics.mean(s[1] for s in warm[-3:])
    return f"{name} {first / 1024:.1f} → {last / 1024:.1f} MiB ({(last - first) / max(first, 1) * 100:+.1f}%)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat-prompts", action="store_true", help="reuse prompts, so a response cache can hit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", help="also write the report here")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    outcome = asyncio.run(soak(seconds, args.concurrency, args.repeat_prompts, args.seed))
    text = report(outcome, "python -m tests.perf.soak " + " ".join(argv if argv is not None else sys.argv[1:]), seconds)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    sys.exit(main())
