"""The numbers behind the cross-replica semantic cache design (docs/cache.md), measured in one run.

Two :class:`~gateway.cache.sync.SemanticSync` replicas (each its own MiniLM embedder and index)
share the real Redis on loopback. Measured: how long after replica A stores an entry replica B
finds it by meaning (the replication lag), how fast a replica absorbs other replicas' entries
(each one is embedded again), and what an entry costs in Redis (stream entry and cached answer).
Run: ``python -m tests.perf.cache_sync --write docs/bench-cache-sync.md``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

import msgspec
import redis.asyncio as redis

from benchmarks.load import percentile
from gateway.cache.embedder import Embedder
from gateway.cache.matcher import SemanticMatcher
from gateway.cache.sync import SemanticSync
from tests.perf.reporting import heading, report_main

SAMPLES = 40
ABSORBED = 300
SCOPE = "c1:bench:scope"
ANSWER = msgspec.json.encode(
    {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 60}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 60, "total_tokens": 80},
    }
)


def question(i: int) -> str:
    return f"How do I configure feature number {i} of the billing dashboard for team {i % 17}?"


async def _lag(a: SemanticSync, b: SemanticSync) -> list[float]:
    lags = []
    for i in range(SAMPLES):
        text = question(10_000 + i)
        started = time.perf_counter()
        await a.remember(SCOPE, f"lag-{i}", text)
        while await b.match(SCOPE, text, 0.99) is None:
            await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - started) * 1000)
    return lags


async def _absorb(client: redis.Redis, stream: str, b: SemanticSync) -> float:
    """Entries per second replica B indexes when other replicas store a burst of them."""
    started = time.perf_counter()
    async with client.pipeline(transaction=False) as pipe:
        for i in range(ABSORBED):
            pipe.xadd(stream, {"o": "other", "s": "c1:bench:absorb", "e": f"absorb-{i}", "t": question(i)})
        await pipe.execute()
    last = question(ABSORBED - 1)
    while await b.match("c1:bench:absorb", last, 0.99) is None:
        await asyncio.sleep(0.25)  # each look embeds on B's one worker thread too: look rarely
    return ABSORBED / (time.perf_counter() - started)


async def measure() -> dict[str, float]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    namespace = f"tollgate-bench-{uuid.uuid4().hex[:8]}"
    a = SemanticSync(SemanticMatcher(Embedder()), client, namespace, backfill=0)
    b = SemanticSync(SemanticMatcher(Embedder()), client, namespace, backfill=0)
    follower = asyncio.create_task(b.follow())
    try:
        await asyncio.sleep(0.2)
        lags = await _lag(a, b)
        stream = f"{namespace}:cache:semantic"
        absorbed = await _absorb(client, stream, b)
        stream_bytes = await client.memory_usage(stream) / await client.xlen(stream)
        await client.set(f"{namespace}:cache:e:probe", ANSWER, ex=60)
        entry_bytes = await client.memory_usage(f"{namespace}:cache:e:probe")
        await client.delete(stream, f"{namespace}:cache:e:probe")
    finally:
        follower.cancel()
        a.close()
        b.close()
        await client.aclose()
    return {
        "lag_p50": statistics.median(lags),
        "lag_p99": percentile(lags, 99),
        "lag_max": max(lags),
        "absorbed_per_s": absorbed,
        "stream_bytes": stream_bytes,
        "entry_bytes": float(entry_bytes),
        "answer_bytes": float(len(ANSWER)),
    }


def report(m: dict[str, float], command: str) -> str:
    return "\n".join(
        [
            *heading(
                "Response cache: keeping replicas' semantic indexes in step",
                command,
                "Redis 7 on loopback; MiniLM int8 on onnxruntime, one thread per replica;"
                f" load average {os.getloadavg()[0]:.1f} at the end (the machine is shared)",
            ),
            "",
            "| measure | value |",
            "|---|---:|",
            f"| store on A → found by meaning on B, p50 ({SAMPLES} samples) | {m['lag_p50']:.1f} ms |",
            f"| same, p99 / max | {m['lag_p99']:.1f} / {m['lag_max']:.1f} ms |",
            f"| entries per second one replica absorbs from the others ({ABSORBED} in a burst) | "
            f"{m['absorbed_per_s']:.0f} |",
            f"| Redis bytes per stream entry (scope, id, ~80-character question) | {m['stream_bytes']:.0f} |",
            f"| Redis bytes per cached answer ({m['answer_bytes']:.0f}-byte body) | {m['entry_bytes']:.0f} |",
            "",
            "The lag includes B's embedding of the question (each replica embeds the entries it is told about);",
            "the target is 1 s.",
            "",
        ]
    )


def main() -> None:
    report_main("tests.perf.cache_sync", __doc__, lambda command: report(asyncio.run(measure()), command))


if __name__ == "__main__":
    main()
