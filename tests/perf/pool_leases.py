"""What a pool's shared bound costs a request, measured in one run.

One gateway with Redis, one zero-latency upstream, two models in alternating slots, each on a
vLLM-type pool of one replica: ``unbounded`` (no ``max_outstanding``: no lease) and ``bounded``
(``max_outstanding`` far above the load, so nothing queues: every request takes a lease in Redis
and gives it back, :mod:`gateway.routing.leases`). The difference is the lease's cost: one
script call waited for before the upstream is asked, and one release sent without waiting.

Run: ``python -m tests.perf.pool_leases --write docs/bench-pool-leases.md``.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

import uvloop

from benchmarks.procs import HOST
from tests.perf.reporting import heading, report_main
from tests.perf.slots import gateway_slots

ROUNDS = 10
SECONDS = 1.5
MODELS = ("unbounded", "bounded")
REDIS = "redis://127.0.0.1:6379/0"


def _config(directory: Path, upstream: int) -> dict[str, Any]:
    url = f"http://{HOST}:{upstream}/v1"
    return {
        "backends": {
            "free": {"type": "vllm", "urls": [url]},
            "leased": {"type": "vllm", "urls": [url], "max_outstanding": 10_000},
        },
        "models": [
            {"name": "unbounded", "deployments": [{"backend": "free", "model": "m"}]},
            {"name": "bounded", "deployments": [{"backend": "leased", "model": "m"}]},
        ],
        "anonymous_customer": "bench",
        "redis_url": REDIS,
        "redis_namespace": f"bench-leases-{uuid.uuid4().hex[:8]}",
        "database_url": f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        "journal_dir": str(directory / "journal"),
    }


async def measure(directory: Path) -> dict[str, dict[str, list[float]]]:
    config = functools.partial(_config, directory)
    return await gateway_slots(directory, config, MODELS, rounds=ROUNDS, seconds=SECONDS)


def report(results: dict[str, dict[str, list[float]]], command: str) -> str:
    med = {name: {m: statistics.median(v) for m, v in values.items()} for name, values in results.items()}
    p50s = [b - u for u, b in zip(results["unbounded"]["p50"], results["bounded"]["p50"], strict=True)]
    lines = [
        *heading(
            "Shared pool leases", command, "one uvicorn worker; Redis on the same machine; shared with other work"
        ),
        "",
        "`unbounded`: a vLLM-type pool without `max_outstanding`. `bounded`: the same with `max_outstanding`,",
        "every request holding a lease in Redis shared by all gateways. A zero-latency upstream; alternating",
        f"slots, {ROUNDS} rounds of {SECONDS:g} s per model and concurrency; medians.",
        "",
        "| model | p50 c=1 (ms) | p99 c=1 (ms) | req/s c=64 | gateway CPU per request c=64 (µs) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in med.items():
        lines.append(f"| {name} | {v['p50']:.3f} | {v['p99']:.3f} | {v['rps64']:,.0f} | {v['cpu_us']:.0f} |")
    added = med["bounded"]["p50"] - med["unbounded"]["p50"]
    lines += [
        "",
        f"The lease adds **{added:+.3f} ms** at p50 (paired rounds: {min(p50s):+.3f} to {max(p50s):+.3f}); "
        f"throughput at c=64 is {med['bounded']['rps64'] / med['unbounded']['rps64']:.2f}× the unbounded pool's; "
        f"**{med['bounded']['cpu_us'] - med['unbounded']['cpu_us']:+.0f} µs** of gateway CPU per request.",
        "",
    ]
    return "\n".join(lines)


def measured(command: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        return report(uvloop.run(measure(Path(directory))), command)


def main() -> None:
    report_main("tests.perf.pool_leases", __doc__, measured)


if __name__ == "__main__":
    main()
