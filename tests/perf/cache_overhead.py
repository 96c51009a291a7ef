"""What an exact cache hit costs: the gateway answering from its cache vs the upstream answering directly.

One zero-latency upstream; two gateways, one per store (its own LRU, and Redis on loopback), with
exact caching on. Three targets per gateway, all six alternating slots so that all see the same
machine state:
``direct`` (the upstream itself), ``miss`` (through the gateway with ``Cache-Control: no-cache,
no-store``: the whole upstream path plus the cache's key and policy work), ``hit`` (the same
request answered from the cache). Run: ``python -m tests.perf.cache_overhead --write docs/bench-cache.md``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import uvloop
import yaml

from backends.base import Operation
from benchmarks.load import Pool, encode_request, summarize
from benchmarks.procs import (
    HOST,
    child_env,
    issue_key,
    running,
    server_command,
    upstream_command,
    wait_ready,
)
from gateway.cache.policy import Controls
from gateway.cache.service import ResponseCache
from gateway.cache.store import EntryStore, MemoryEntries, RedisEntries
from gateway.core.redis_pipe import RedisPipe
from gateway.keys.principal import Principal
from gateway.metrics import Metrics
from gateway.settings import ModelCache
from tests.perf.reporting import heading, report_main
from tests.support.ports import free_port

ROUNDS = 4
SECONDS = 2.0
STORES = ("memory", "redis")
TARGETS = ("direct", "miss", "hit")
BODY = msgspec.json.encode(
    {
        "model": "bench-model",
        "temperature": 0,
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
    }
)


def _config(directory: Path, upstream: int, store: str) -> Path:
    config: dict[str, Any] = {
        "backends": {"up": {"type": "openai_compatible", "base_url": f"http://{HOST}:{upstream}/v1"}},
        "models": [
            {
                "name": "bench-model",
                "deployments": [{"backend": "up", "model": "bench-model"}],
                "pricing": {"input_per_mtok": "0.01", "output_per_mtok": "0.01"},
                "cache": {"exact": True},
            }
        ],
        "database_url": f"sqlite+aiosqlite:///{directory / f'{store}.db'}",
        "journal_dir": str(directory / f"journal-{store}"),
    }
    if store == "redis":
        config["redis_url"] = "redis://127.0.0.1:6379/0"
        config["redis_namespace"] = f"tollgate-bench-{uuid.uuid4().hex[:8]}"
    path = directory / f"{store}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _requests(upstream: int, port: int, key: str) -> dict[str, tuple[int, bytes]]:
    path = "/v1/chat/completions"
    auth = {"authorization": f"Bearer {key}"}
    uncached = {**auth, "cache-control": "no-cache, no-store"}
    return {
        "direct": (upstream, encode_request("POST", path, f"{HOST}:{upstream}", BODY)),
        "miss": (port, encode_request("POST", path, f"{HOST}:{port}", BODY, uncached)),
        "hit": (port, encode_request("POST", path, f"{HOST}:{port}", BODY, auth)),
    }


async def _rounds(slots: dict[tuple[str, str], tuple[Pool, bytes]]) -> dict[str, dict[str, list[float]]]:
    p50s: dict[str, dict[str, list[float]]] = {store: {target: [] for target in TARGETS} for store in STORES}
    for _ in range(ROUNDS):
        for (store, target), (pool, request) in slots.items():
            await pool.run(request, concurrency=1, seconds=0.3)
            one = summarize(await pool.run(request, concurrency=1, seconds=SECONDS))
            if one.errors:
                raise RuntimeError(f"{store} {target}: {one.errors} errors")
            p50s[store][target].append(one.p50_ms)
    return p50s


async def measure(directory: Path) -> dict[str, dict[str, list[float]]]:
    upstream = free_port()
    env = child_env(os.environ, None)
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(running(upstream_command(upstream), env, directory / "upstream.log"))
        await wait_ready(up, upstream, "/v1/models", directory / "upstream.log")
        slots: dict[tuple[str, str], tuple[Pool, bytes]] = {}
        for store in STORES:
            config = _config(directory, upstream, store)
            gateway_env = child_env(os.environ, config)
            key = issue_key(config, gateway_env)
            port = free_port()
            log = directory / f"gateway-{store}.log"
            gateway = stack.enter_context(running(server_command("uvicorn", port), gateway_env, log))
            await wait_ready(gateway, port, "/healthz", log)
            for target, (target_port, request) in _requests(upstream, port, key).items():
                slots[(store, target)] = (await Pool.open(HOST, target_port, 1), request)
        results = await _rounds(slots)
        for pool, _ in slots.values():
            pool.close()
    return results


async def lookups() -> dict[str, float]:
    """The cache's own part of a hit, in this process: ``ResponseCache.lookup`` p50 per store (µs)."""
    pipe = RedisPipe("redis://127.0.0.1:6379/0")
    stores: dict[str, EntryStore] = {
        "memory": MemoryEntries(100),
        "redis": RedisEntries(pipe, f"tollgate-bench-{uuid.uuid4().hex[:8]}"),
    }
    raw = msgspec.json.decode(BODY)
    principal = Principal(key_id=1, key_hash="-", customer_id=1, customer_name="bench")
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}]}
    p50s = {}
    for name, store in stores.items():
        cache = ResponseCache({"bench-model": ModelCache()}, store, None, Metrics(), max_ttl_seconds=60)
        cache.keep(await cache.lookup(principal, Operation.CHAT, "bench-model", raw, Controls()), answer)
        await cache.settled()
        times = []
        for _ in range(3000):
            started = time.perf_counter()
            found = await cache.lookup(principal, Operation.CHAT, "bench-model", raw, Controls())
            times.append((time.perf_counter() - started) * 1e6)
            assert found.status == "hit"
        p50s[name] = statistics.median(times)
    await pipe.aclose()
    return p50s


def report(results: dict[str, dict[str, list[float]]], inside: dict[str, float], command: str) -> str:
    lines = [
        *heading(
            "Response cache: what an exact hit costs",
            command,
            "Redis 7 on loopback; one uvicorn worker; a zero-latency upstream; one connection (c=1);"
            f" load average {os.getloadavg()[0]:.1f} at the end (the machine is shared)",
        ),
        "",
        f"Alternating slots, {ROUNDS} rounds of {SECONDS:.0f} s per target; medians of the rounds' p50 latencies.",
        "`direct` asks the upstream itself; `miss` goes through the gateway with `Cache-Control: no-cache,",
        "no-store` (key and policy work, then the upstream); `hit` is the same request answered from the cache.",
        "",
        "| store | direct p50 (ms) | miss p50 (ms) | hit p50 (ms) | hit − direct (ms) | hit / miss |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for store, p50s in results.items():
        med = {target: statistics.median(values) for target, values in p50s.items()}
        added = med["hit"] - med["direct"]
        verdicts.append(f"{store}: {added:+.3f} ms ({'met' if added <= 1.0 else 'not met'})")
        lines.append(
            f"| {store} | {med['direct']:.3f} | {med['miss']:.3f} | {med['hit']:.3f} | {added:+.3f} |"
            f" {med['hit'] / med['miss']:.2f} |"
        )
    lines += [
        "",
        f"An exact hit adds, over asking the upstream directly (target ≤ 1 ms p50): {'; '.join(verdicts)}.",
        "",
        "The cache's own part of a hit, measured in one process without HTTP (`ResponseCache.lookup`: key,",
        f"policy, store read and decode; p50 of 3,000): memory {inside['memory']:.0f} µs,"
        f" redis {inside['redis']:.0f} µs (one loopback round trip).",
        "",
    ]
    return "\n".join(lines)


def measured(command: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        results = uvloop.run(measure(Path(directory)))
    return report(results, uvloop.run(lookups()), command)


def main() -> None:
    report_main("tests.perf.cache_overhead", __doc__, measured)


if __name__ == "__main__":
    main()
