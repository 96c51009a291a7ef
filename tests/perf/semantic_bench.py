"""Semantic-cache lookup latency (embedding included) and memory with 100,000 entries in one scope.

Run:  OMP_NUM_THREADS=1 .venv/bin/python -m tests.perf.semantic_bench --write docs/semantic-cache-bench.md

The scope holds synthetic unit vectors (random: the exact search does its full work and the HNSW graph
has no structure to exploit) with a text per entry; each query is a real sentence embedded by the real
model on one thread. The exact float32 index (what every scope used before) and the HNSW float16 index
(what scopes from GRAPH_FROM entries on use now) are measured in the same run on the same data.
Times are this machine's, measured in one run; they are a guide, not a pass/fail check.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import fow_cache.data as fow
import numpy as np

from gateway.cache.embedder import Embedder
from gateway.cache.matcher import DEFAULT_THRESHOLD, SemanticMatcher

QUERIES = (
    "How do I reset my password?",
    "What's the refund policy for annual plans?",
    "Can I change the billing address on my invoices?",
    "How do I rotate my API key without downtime?",
    "Which regions is the service available in?",
)
MIB = 1024 * 1024


def resident_bytes() -> int:
    """The process's resident memory (native allocations included, which tracemalloc does not see)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic(entries: int, seed: int = 7) -> tuple[list[str], np.ndarray, list[str]]:
    """Random unit vectors (no structure for the graph to exploit: its hardest case) and texts."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((entries, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"How do I configure option {i} for the Team plan in region {i % 97}?" for i in range(entries)]
    return [f"entry-{i}" for i in range(entries)], vectors, texts


def fill(matcher: SemanticMatcher, scope: str, data: tuple[list[str], np.ndarray, list[str]]) -> tuple[int, float]:
    """Bulk-loads the scope; returns (resident bytes it added, seconds)."""
    ids, vectors, texts = data
    gc.collect()
    before = resident_bytes()
    start = time.perf_counter()
    matcher.index.add_many(scope, ids, vectors, texts, threads=len(os.sched_getaffinity(0)))
    seconds = time.perf_counter() - start
    gc.collect()
    return resident_bytes() - before, seconds


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def measure(matcher: SemanticMatcher, embedder: Embedder, scope: str, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"embed": [], "search": [], "lookup": []}
    for n in range(rounds):
        query = QUERIES[n % len(QUERIES)]
        start = time.perf_counter()
        vector = embedder.embed(query)
        timings["embed"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        matcher.index.search(scope, vector, DEFAULT_THRESHOLD, lambda text: True)
        timings["search"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        matcher.match(scope, query)
        timings["lookup"].append((time.perf_counter() - start) * 1000)
    return timings


def planted_pairs(matchers: dict[str, SemanticMatcher], scope: str) -> list[str]:
    """fow-cache's should-hit pairs planted among the synthetic entries: does the graph find what exact search finds?"""
    pairs = [p for p in fow.load_questions() if p["category"] in ("paraphrase", "near_repeat")]
    hits = {name: 0 for name in matchers}
    same = 0
    for n, pair in enumerate(pairs):
        found = {}
        for name, matcher in matchers.items():
            matcher.remember(scope, f"planted-{n}", pair["a"])
            found[name] = matcher.match(scope, pair["b"])
            hits[name] += found[name] is not None
        same += len({None if f is None else f[0] for f in found.values()}) == 1
    cells = " | ".join(f"{hits[name]}" for name in matchers)
    return [
        "| planted should-hit pairs | " + " | ".join(f"hits, {name}" for name in matchers) + " | same outcome |",
        "|---:|" + "---:|" * (len(matchers) + 1),
        f"| {len(pairs)} | {cells} | {same} |",
    ]


def report(entries: int, rounds: int, core: int) -> str:
    embedder = Embedder(threads=1)
    all_cpus = os.sched_getaffinity(0)
    data = synthetic(entries)
    scope = "tenant-1|model|params|history"
    matchers = {
        "exact float32 (before)": SemanticMatcher(embedder, graph_from=entries + 10_000),
        "HNSW float16 (now)": SemanticMatcher(embedder),
    }
    rows, memory = [], []
    for name, matcher in matchers.items():
        os.sched_setaffinity(0, all_cpus)  # bulk loading may use every core; lookups get one
        added, fill_s = fill(matcher, scope, data)
        os.sched_setaffinity(0, {core})
        matcher.remember(scope, "real", QUERIES[0])  # one true hit path
        for query in QUERIES:
            embedder.embed(query)  # warm up
        t = measure(matcher, embedder, scope, rounds)
        rows.append(
            f"| {name} | {percentile(t['embed'], 50):.2f} | {percentile(t['search'], 50):.2f} "
            f"| {percentile(t['lookup'], 50):.2f} "
            f"| {percentile(t['lookup'], 99):.2f} | {fill_s:.1f} |"
        )
        memory.append(f"| {name} | {added / MIB:.1f} | {added / MIB * 100_000 / entries:.1f} |")
    return (
        "\n".join(
            [
                "# Semantic cache: benchmark",
                "",
                "Produced by `OMP_NUM_THREADS=1 .venv/bin/python -m tests.perf.semantic_bench "
                "--write docs/semantic-cache-bench.md`.",
                f"One scope with {entries:,} synthetic entries; {rounds} lookups of real sentences, pinned to "
                f"CPU {core} (onnxruntime intra-op 1, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); "
                f"bulk loading used {len(all_cpus)} CPUs. Both indexes measured in this run on the same data "
                f"(a {os.cpu_count()}-core machine shared with other work).",
                "",
                "| index | embedding alone p50 ms | index search alone p50 ms | `match()` p50 ms | `match()` p99 ms "
                "| bulk load s |",
                "|---|---:|---:|---:|---:|---:|",
                *rows,
                "",
                "`match()` = embedding + query signature + search + guards on the candidates above the threshold.",
                "",
                "| index | resident memory added by the scope, MiB | per 100,000 entries, MiB |",
                "|---|---:|---:|",
                *memory,
                "",
                "## Does the graph miss what exact search finds?",
                "",
                *planted_pairs(matchers, scope),
            ]
        )
        + "\n"
    )


MARKER = "<!-- Everything below is generated by the command above; edit the script, not the text. -->"


def write_measured(path: Path, text: str) -> None:
    """Replaces what follows MARKER in ``path`` (the hand-written part above it stays)."""
    head = path.read_text().split(MARKER)[0] if path.exists() else ""
    path.write_text(head + MARKER + "\n\n" + text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--core", type=int, default=1, help="the CPU the lookups are pinned to")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    text = report(args.entries, args.rounds, args.core)
    if args.write:
        write_measured(args.write, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
