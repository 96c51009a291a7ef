"""Micro-batched embeddings against an upstream that serves one call at a time, as one GPU does.

The upstream (tests/fakes/serial_embedder.py) takes ``--call-ms`` per call whatever its size and
queues the next. One gateway serves two models on it: ``plain`` (one upstream call per request) and
``batched`` (``batching: {max_wait_ms, max_batch}``). At each concurrency, ``c`` clients each send
one-sentence requests back to back for ``--duration`` seconds per model, in four alternating
rounds of the two models; the report
gives throughput, p50/p99 latency and the upstream calls made, and checks that at c=1 the window
adds no more than ``max_wait_ms``.

Run it as ``python -m benchmarks.batching --output docs/bench-batching.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks.procs import HOST, child_env, free_port, issue_key, log, running, wait_ready

ROUNDS = 4  # the two models alternate, so that the shared machine's load drifts on both alike


@dataclass
class Point:
    model: str
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    calls: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def config(upstream: int, workdir: Path, wait_ms: float, max_batch: int) -> dict[str, Any]:
    def model(name: str, **extra: Any) -> dict[str, Any]:
        deployments = [{"backend": "gpu", "model": "embedder"}]
        return {"name": name, "kind": "embeddings", "deployments": deployments, **extra}

    return {
        "backends": {"gpu": {"type": "openai_compatible", "base_url": f"http://{HOST}:{upstream}/v1", "api_key": "x"}},
        "models": [model("plain"), model("batched", batching={"max_wait_ms": wait_ms, "max_batch": max_batch})],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "access_log": False,
    }


async def _client(session: aiohttp.ClientSession, url: str, model: str, until: float, who: int) -> list[float]:
    latencies: list[float] = []
    n = 0
    while time.perf_counter() < until:
        body = {"model": model, "input": f"client {who} asks about sentence {n}", "encoding_format": "base64"}
        started = time.perf_counter()
        async with session.post(url, json=body) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{model}: HTTP {response.status}")
        latencies.append(time.perf_counter() - started)
        n += 1
    return latencies


@dataclass
class Run:
    model: str
    clients: int
    samples: list[float]
    seconds: float
    calls: int


async def measure(gateway: str, upstream: str, key: str, model: str, clients: int, duration: float) -> Run:
    headers = {"authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await session.post(f"{upstream}/_reset")
        started = time.perf_counter()
        runs = [_client(session, f"{gateway}/v1/embeddings", model, started + duration, i) for i in range(clients)]
        samples = [s for run in await asyncio.gather(*runs) for s in run]
        seconds = time.perf_counter() - started
        async with session.get(f"{upstream}/_stats") as stats:
            calls = int((await stats.json())["calls"])
    return Run(model, clients, samples, seconds, calls)


async def run(args: argparse.Namespace, workdir: Path) -> list[Point]:
    upstream_port, gateway_port = free_port(), free_port()
    settings = config(upstream_port, workdir, args.window_ms, args.max_batch)
    path = workdir / "tollgate.yaml"
    path.write_text(yaml.safe_dump(settings))
    env = child_env(os.environ, path)
    key = issue_key(path, env)
    upstream_cmd = [sys.executable, "-m", "tests.fakes.serial_embedder", "--port", str(upstream_port)]
    gateway_cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(gateway_port)]
    with (
        running([*upstream_cmd, "--call-ms", str(args.call_ms)], env, workdir / "upstream.log") as up,
        running(gateway_cmd, env, workdir / "gateway.log") as gw,
    ):
        await wait_ready(up, upstream_port, "/v1/models", workdir / "upstream.log")
        await wait_ready(gw, gateway_port, "/healthz", workdir / "gateway.log")
        gateway, upstream = f"http://{HOST}:{gateway_port}", f"http://{HOST}:{upstream_port}"
        for model in ("plain", "batched"):  # warm both paths
            await measure(gateway, upstream, key, model, 4, 0.5)
        points = []
        for clients in args.concurrency:
            log(f"c={clients}")
            rounds = [
                await measure(gateway, upstream, key, model, clients, args.duration / ROUNDS)
                for _ in range(ROUNDS)
                for model in ("plain", "batched")
            ]
            points += [_pooled([r for r in rounds if r.model == model]) for model in ("plain", "batched")]
    return points


def _pooled(rounds: list[Run]) -> Point:
    samples = [s for r in rounds for s in r.samples]
    p50, p99 = _percentile(samples, 0.5) * 1000, _percentile(samples, 0.99) * 1000
    seconds = sum(r.seconds for r in rounds)
    return Point(rounds[0].model, rounds[0].clients, len(samples), seconds, p50, p99, sum(r.calls for r in rounds))


def report(args: argparse.Namespace, points: list[Point]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    rows = [
        f"| {p.clients} | {p.model} | {p.throughput:.1f} | {p.p50_ms:.1f} | {p.p99_ms:.1f} | {p.calls} | "
        f"{p.requests / max(p.calls, 1):.1f} |"
        for p in points
    ]
    by = {(p.model, p.clients): p for p in points}
    gains = [
        f"c={c}: {by['batched', c].throughput / by['plain', c].throughput:.2f}x the throughput"
        for c in args.concurrency
    ]
    lowest = min(args.concurrency)
    added = by["batched", lowest].p50_ms - by["plain", lowest].p50_ms
    within = "within" if added <= args.window_ms else "NOT within"
    return "\n".join(
        [
            "# Micro-batched embeddings against a one-call-at-a-time upstream",
            "",
            f"- Command: `python -m benchmarks.batching --output docs/bench-batching.md` (--call-ms {args.call_ms:g} "
            f"--window-ms {args.window_ms:g} --max-batch {args.max_batch} --duration {args.duration:g})",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit `{commit.stdout.strip()}`",
            f"- Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; one gateway worker (shared "
            f"machine, load average {os.getloadavg()[0]:.1f} at the end)",
            "",
            f"The upstream (`tests/fakes/serial_embedder.py`) serves one call at a time and each call costs "
            f"{args.call_ms:g} ms whatever its size, as a GPU's batch does. `plain` makes one upstream call per "
            f"request; `batched` has `batching: {{max_wait_ms: {args.window_ms:g}, max_batch: {args.max_batch}}}`. "
            f"c clients send one-sentence requests (base64, as the OpenAI SDK does) back to back for "
            f"{args.duration:g} s per row, in {ROUNDS} rounds alternating with the other model.",
            "",
            "| c | model | requests/s | p50 (ms) | p99 (ms) | upstream calls | requests per call |",
            "|---:|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Batching gain: {'; '.join(gains)}.",
            f"At c={lowest} the window adds {added:+.1f} ms to the p50 ({within} the {args.window_ms:g} ms window).",
            "",
        ]
    )


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--call-ms", type=float, default=20.0, help="the upstream's cost per call (default 20)")
    parser.add_argument("--window-ms", type=float, default=10.0, help="batching max_wait_ms (default 10)")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per row (default 5)")
    parser.add_argument("--concurrency", type=_counts, default=(1, 16, 64), help="clients per row (default 1,16,64)")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as workdir:
        points = asyncio.run(run(args, Path(workdir)))
    text = report(args, points)
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
