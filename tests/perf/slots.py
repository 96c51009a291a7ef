"""The measuring loop of the overhead benchmarks: every target in turn, round after round, so that all
of them see the same machine state on average; medians are taken over the rounds by the caller."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from benchmarks.load import Pool, encode_request, summarize
from benchmarks.procs import HOST, child_env, running, server_command, upstream_command, wait_ready
from tests.support.ports import free_port

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello in five words."}]


async def alternate(
    pool: Pool,
    requests: dict[str, bytes],
    *,
    rounds: int,
    seconds: float,
    cpu_seconds: Callable[[], float] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per target and round: p50 and p99 at c=1 (ms), req/s at c=64 and, given the gateway's CPU clock,
    its CPU per request at c=64 (``cpu_us``)."""
    fields = ("p50", "p99", "rps64", "cpu_us") if cpu_seconds else ("p50", "p99", "rps64")
    results: dict[str, dict[str, list[float]]] = {name: {f: [] for f in fields} for name in requests}
    for _ in range(rounds):
        for name, request in requests.items():
            await pool.run(request, concurrency=1, seconds=0.3)  # settle before timing
            one = summarize(await pool.run(request, concurrency=1, seconds=seconds))
            cpu_before = cpu_seconds() if cpu_seconds else 0.0
            many = summarize(await pool.run(request, concurrency=64, seconds=seconds))
            if one.errors or many.errors:
                raise RuntimeError(f"{name}: {one.errors + many.errors} errors")
            results[name]["p50"].append(one.p50_ms)
            results[name]["p99"].append(one.p99_ms)
            results[name]["rps64"].append(many.rps)
            if cpu_seconds:
                results[name]["cpu_us"].append((cpu_seconds() - cpu_before) / many.requests * 1e6)
    return results


async def gateway_slots(
    directory: Path, config: Callable[[int], dict[str, Any]], models: Iterable[str], *, rounds: int, seconds: float
) -> dict[str, dict[str, list[float]]]:
    """:func:`alternate` over a chat request per model, sent to a uvicorn gateway started with
    ``config(upstream port)`` in front of a zero-latency fake upstream; with the gateway's CPU per request."""
    upstream = free_port()
    with running(upstream_command(upstream), child_env(os.environ, None), directory / "upstream.log") as up:
        await wait_ready(up, upstream, "/v1/models", directory / "upstream.log")
        path = directory / "bench.yaml"
        path.write_text(yaml.safe_dump(config(upstream)))
        port = free_port()
        with running(
            server_command("uvicorn", port), child_env(os.environ, path), directory / "gateway.log"
        ) as gateway:
            await wait_ready(gateway, port, "/healthz", directory / "gateway.log")
            pool = await Pool.open(HOST, port, 64)
            requests = {model: chat_request(port, model) for model in models}
            cpu = functools.partial(cpu_seconds, gateway.pid)
            results = await alternate(pool, requests, rounds=rounds, seconds=seconds, cpu_seconds=cpu)
            pool.close()
    return results


def chat_request(port: int, model: str) -> bytes:
    body = msgspec.json.encode({"model": model, "max_tokens": 32, "messages": MESSAGES})
    return encode_request("POST", "/v1/chat/completions", f"{HOST}:{port}", body, {})


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far: what a request costs, whoever else shares the CPUs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
