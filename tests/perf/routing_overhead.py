"""What routing adds to a request, measured in one run.

1. Over HTTP: one gateway, one zero-latency upstream, two models in alternating slots: ``single`` (one
   OpenAI-compatible deployment: the core single-backend path) and ``routed`` (a vLLM-type pool of
   three replicas with prefix affinity, a bounded queue, a fallback deployment and a 5 % canary).
2. In process, without HTTP: ``relay.complete`` called directly (the path before routing existed)
   against ``Router.complete`` on a single-deployment model, both on the simulator backend, so that the
   difference is the router's own work per request, in microseconds.

Run: ``python -m tests.perf.routing_overhead --write docs/bench-routing.md``.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from backends.base import BackendContext, Operation
from backends.http import build_client
from benchmarks.procs import HOST
from gateway.metrics import Metrics
from gateway.routing import relay
from gateway.routing.router import Router, Traits
from gateway.routing.table import RoutingTable
from gateway.settings import Settings
from gateway.tokens import Tokenizer
from tests.perf.reporting import heading, report_main
from tests.perf.slots import MESSAGES, gateway_slots

ROUNDS = 10
SECONDS = 1.5
CALLS = 20_000
MODELS = ("single", "routed")


def _unheard() -> None:
    """relay.complete tells where it sends a request; nobody listens here."""


def _http_config(directory: Path, upstream: int) -> dict[str, Any]:
    url = f"http://{HOST}:{upstream}/v1"
    return {
        "backends": {
            "up": {"type": "openai_compatible", "base_url": url},
            "pool": {"type": "vllm", "urls": [url] * 3, "strategy": "affinity", "max_outstanding": 1000},
            "canary": {"type": "openai_compatible", "base_url": url},
        },
        "models": [
            {"name": "single", "deployments": [{"backend": "up", "model": "m"}]},
            {
                "name": "routed",
                "deployments": [{"backend": "pool", "model": "m"}, {"backend": "up", "model": "m"}],
                # A margin no noise reaches: the canary stays in for the whole run.
                "rollout": {"backend": "canary", "model": "m", "share": 0.05, "latency_margin": 100},
            },
        ],
        "anonymous_customer": "bench",
        "database_url": f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        "journal_dir": str(directory / "journal"),
    }


async def measure_http(directory: Path) -> dict[str, dict[str, list[float]]]:
    config = functools.partial(_http_config, directory)
    return await gateway_slots(directory, config, MODELS, rounds=ROUNDS, seconds=SECONDS)


async def measure_in_process() -> dict[str, list[float]]:
    """CPU microseconds per call (this process's CPU time), per alternating batch."""
    deployment = {"backend": "sim", "model": "sim"}
    raw = {"backends": {"sim": {"type": "simulator"}}, "models": [{"name": "m", "deployments": [deployment]}]}
    settings = msgspec.convert(raw, Settings)
    http = build_client()
    try:
        table = RoutingTable(settings, BackendContext(http, Tokenizer()), time.monotonic, None)
        router = Router(table, settings.routing, Metrics())
        route = table.catalog.resolve("m", Operation.CHAT)
        body = {"model": "m", "messages": MESSAGES, "max_tokens": 8}
        paths = {
            "relay.complete (no routing)": lambda: relay.complete(route, Operation.CHAT, body, _unheard),
            "Router.complete (single deployment)": lambda: router.complete("m", Operation.CHAT, body, Traits()),
        }
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(ROUNDS):
            for name, call in paths.items():
                started = time.process_time()
                for _ in range(CALLS // 10):
                    await call()
                times[name].append((time.process_time() - started) / (CALLS // 10) * 1e6)
        return times
    finally:
        await http.close()


def report(http: dict[str, dict[str, list[float]]], local: dict[str, list[float]], command: str) -> str:
    med = {name: {m: statistics.median(v) for m, v in values.items()} for name, values in http.items()}
    added = med["routed"]["p50"] - med["single"]["p50"]
    lines = [
        *heading("Routing overhead", command, "one uvicorn worker; a zero-latency upstream; shared with other work"),
        "",
        "## Over HTTP: the single-backend path against a routed pool",
        "",
        "`single`: one OpenAI-compatible deployment. `routed`: a vLLM-type pool of three replicas with prefix",
        "affinity (the conversation prefix hashed per request), a bounded queue, a fallback deployment and a 5 %",
        f"canary. Alternating slots, {ROUNDS} rounds of {SECONDS:g} s per model and concurrency; medians.",
        "",
        "| model | p50 c=1 (ms) | p99 c=1 (ms) | req/s c=64 | gateway CPU per request c=64 (µs) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in med.items():
        lines.append(f"| {name} | {v['p50']:.3f} | {v['p99']:.3f} | {v['rps64']:,.0f} | {v['cpu_us']:.0f} |")
    cpu_added = med["routed"]["cpu_us"] - med["single"]["cpu_us"]
    verdict = "met" if added <= 0.1 else "not met"
    lines += [
        "",
        f"Routing adds **{added:+.3f} ms** at p50 (target ≤ 0.1 ms: {verdict}); throughput at c=64 is "
        f"{med['routed']['rps64'] / med['single']['rps64']:.2f}× the single-backend path's; the gateway spends "
        f"**{cpu_added:+.0f} µs** more CPU per request (its own CPU time, which other load on the machine does not"
        " inflate the way it inflates latency).",
        "",
        "## In process: the router's own work",
        "",
        f"Simulator backend, no HTTP; {ROUNDS} alternating batches of {CALLS // 10:,} calls; medians.",
        "",
        "| path | CPU µs per call |",
        "|---|---:|",
    ]
    per_call = {name: statistics.median(v) for name, v in local.items()}
    for name, micros in per_call.items():
        lines.append(f"| {name} | {micros:.1f} |")
    base, routed = per_call.values()
    lines += ["", f"The router adds **{routed - base:+.1f} µs** per request over calling the deployment directly.", ""]
    return "\n".join(lines)


def measured(command: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        http = uvloop.run(measure_http(Path(directory)))
    return report(http, uvloop.run(measure_in_process()), command)


def main() -> None:
    report_main("tests.perf.routing_overhead", __doc__, measured)


if __name__ == "__main__":
    main()
