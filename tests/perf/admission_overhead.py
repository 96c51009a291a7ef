"""What admission adds: one gateway, two keys, Redis on loopback; measured in one run.

The ``free`` key has no limits (admission is skipped); the ``limited`` key has requests and tokens
per minute, concurrency and a monthly budget, all far above the load, so that every request runs
the whole reservation Lua script and its settlement, and none is refused. Each key also asks a model
with an exact response cache in Redis, the same question every time (hits after the first): there the
reservation travels with the cache lookup. Slots alternate between the targets so all see the same
machine state. Run: ``python -m tests.perf.admission_overhead --write docs/bench-admission.md``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import msgspec
import uvloop
import yaml

from benchmarks.load import Pool, encode_request
from benchmarks.procs import HOST, child_env, running, server_command, upstream_command, wait_ready
from tests.perf.reporting import heading, report_main
from tests.perf.slots import alternate
from tests.support.ports import free_port

ROUNDS = 10
SECONDS = 1.5
MODEL, CACHED = "bench-model", "bench-cached"
LIMITS = [
    "--rpm",
    "10000000",
    "--tpm",
    "1000000000",
    "--max-concurrency",
    "100000",
    "--budget-usd",
    "1000000",
    "--budget-period",
    "month",
]


def _config(directory: Path, upstream: int) -> Path:
    config = {
        "backends": {"up": {"type": "openai_compatible", "base_url": f"http://{HOST}:{upstream}/v1"}},
        "models": [
            {
                "name": name,
                "deployments": [{"backend": "up", "model": "bench-model"}],
                "pricing": {"input_per_mtok": "0.01", "output_per_mtok": "0.01"},
                **({"cache": {"exact": True}} if name == CACHED else {}),
            }
            for name in (MODEL, CACHED)
        ],
        "database_url": f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        "journal_dir": str(directory / "journal"),
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": f"tollgate-bench-{uuid.uuid4().hex[:8]}",
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _key(config: Path, env: dict[str, str], customer: str, *limits: str) -> str:
    command = [sys.executable, "-m", "gateway", "keys", "create", "--config", str(config), "--customer", customer]
    done = subprocess.run([*command, *limits], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()[-1]


def _request(port: int, key: str, model: str) -> bytes:
    body = msgspec.json.encode(
        {
            "model": model,
            "max_tokens": 32,
            "temperature": 0,
            "messages": [{"role": "user", "content": "Say hello in five words."}],
        }
    )
    return encode_request("POST", "/v1/chat/completions", f"{HOST}:{port}", body, {"authorization": f"Bearer {key}"})


async def measure(directory: Path) -> dict[str, dict[str, list[float]]]:
    upstream = free_port()
    env = child_env(os.environ, None)
    with running(upstream_command(upstream), env, directory / "upstream.log") as up:
        await wait_ready(up, upstream, "/v1/models", directory / "upstream.log")
        config = _config(directory, upstream)
        gateway_env = child_env(os.environ, config)
        keys = {
            "free": _key(config, gateway_env, "free-co"),
            "limited": _key(config, gateway_env, "limited-co", *LIMITS),
        }
        port = free_port()
        with running(server_command("uvicorn", port), gateway_env, directory / "gateway.log") as gateway:
            await wait_ready(gateway, port, "/healthz", directory / "gateway.log")
            pool = await Pool.open(HOST, port, 64)
            requests = {name: _request(port, key, MODEL) for name, key in keys.items()}
            requests |= {f"{name}, cache hit": _request(port, key, CACHED) for name, key in keys.items()}
            results = await alternate(pool, requests, rounds=ROUNDS, seconds=SECONDS)
            pool.close()
    return results


def _paired(results: dict[str, dict[str, list[float]]], free: str, limited: str) -> list[float]:
    """Each round's limited slot against the free slot beside it: the machine drifts between rounds."""
    return sorted(b - a for a, b in zip(results[free]["p50"], results[limited]["p50"], strict=True))


def report(results: dict[str, dict[str, list[float]]], command: str) -> str:
    med = {name: {m: statistics.median(v) for m, v in values.items()} for name, values in results.items()}
    paired, hits = _paired(results, "free", "limited"), _paired(results, "free, cache hit", "limited, cache hit")
    added = statistics.median(paired)
    lines = [
        *heading("Admission overhead", command, "Redis 7 on loopback; one uvicorn worker; a zero-latency upstream"),
        "",
        "One gateway, two keys, alternating slots: `free` (no limits: admission skipped) and `limited` (requests and",
        "tokens per minute, concurrency and a monthly budget, far above the load: every request runs the reservation",
        "script and its settlement); each on a model without a cache, and on one with an exact cache in Redis asked",
        f"the same question (`cache hit`). {ROUNDS} rounds of {SECONDS:g} s per target and concurrency; medians over",
        "rounds.",
        "",
        "| target | p50 c=1 (ms) | p99 c=1 (ms) | req/s c=64 |",
        "|---|---:|---:|---:|",
    ]
    for name, values in med.items():
        lines.append(f"| {name} | {values['p50']:.3f} | {values['p99']:.3f} | {values['rps64']:,.0f} |")
    verdict = "met" if added <= 0.3 else "not met"
    ratio = med["limited"]["rps64"] / med["free"]["rps64"]
    lines += [
        "",
        f"Admission adds **{added:+.3f} ms** at p50 (target ≤ 0.3 ms: {verdict}): the median over rounds of the "
        f"limited key's p50 minus the free key's in the same round (range {paired[0]:+.3f} to {paired[-1]:+.3f} ms); "
        f"throughput at c=64 is {ratio:.2f}× the unlimited key's.",
        "",
        f"On the cached model, where the reservation and the cache lookup share one round trip, admission adds "
        f"{statistics.median(hits):+.3f} ms to a hit (range {hits[0]:+.3f} to {hits[-1]:+.3f} ms), and a limited key "
        f"gets {med['limited, cache hit']['rps64'] / med['free, cache hit']['rps64']:.2f}× the unlimited key's hits "
        "per second at c=64.",
        "",
    ]
    return "\n".join(lines)


def measured(command: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        return report(uvloop.run(measure(Path(directory))), command)


def main() -> None:
    report_main("tests.perf.admission_overhead", __doc__, measured)


if __name__ == "__main__":
    main()
