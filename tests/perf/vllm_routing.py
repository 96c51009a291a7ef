"""Two real vLLM CPU replicas as one pool behind Tollgate: what the strategy changes, by vLLM's own counters.

1. Prefix affinity against round robin on a multi-turn chat workload: vLLM's prefix-cache counters
   (``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``, in tokens) over each phase.
2. Load-aware against least-outstanding while one replica is flooded by traffic that does not pass
   through this gateway (so only vLLM's ``vllm:num_requests_waiting`` gauge shows it): where the
   gateway's requests went, and how long they took.

The strategy is switched by rewriting the config and ``POST /admin/reload``, in one run on the same
two servers; each phase uses conversations of its own, so no phase warms the cache for another.
Run (about 3 minutes, 6 GB of memory): ``python -m tests.perf.vllm_routing --write docs/routing-vllm.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from backends.vllm import EngineLoad, parse_engine_load
from tests.support.gateway_process import running_gateway
from tests.vllm_support.server import VLLMServer, ensure_model, ensure_vllm, running_vllm

ADMIN = {"authorization": "Bearer bench-admin"}
WORDS = ["river", "stone", "cloud", "paper", "garden", "window", "signal", "market", "orange", "silver", "forest"]
CONVERSATIONS, TURNS = 5, 6  # an odd number of conversations, so round robin moves each between replicas
VLLM_ARGS = ["--enable-prefix-caching", "--max-num-seqs", "2"]


def engine(server: VLLMServer) -> EngineLoad:
    with urllib.request.urlopen(f"{server.root_url}/metrics", timeout=5) as response:
        return parse_engine_load(response.read().decode())


def config(servers: list[VLLMServer], strategy: str, workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"pool": {"type": "vllm", "urls": [s.base_url for s in servers], "strategy": strategy}},
        "models": [{"name": "tiny", "deployments": [{"backend": "pool", "model": servers[0].model_name}]}],
        "routing": {"metrics_interval": 0.2, "health_interval": 2},
        "anonymous_customer": "bench",
        "admin_token": "bench-admin",
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


def use_strategy(url: str, servers: list[VLLMServer], strategy: str, workdir: Path) -> None:
    (workdir / "tollgate.yaml").write_text(yaml.safe_dump(config(servers, strategy, workdir)))
    httpx.post(f"{url}/admin/reload", headers=ADMIN, timeout=10).raise_for_status()


def chat(url: str, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, float]:
    body = {"model": "tiny", "messages": messages, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"], time.perf_counter() - started


def multi_turn(url: str, seed: int) -> None:
    """CONVERSATIONS conversations of TURNS turns, interleaved: each with its own long system prompt."""
    rng = random.Random(seed)
    talks = [
        [{"role": "system", "content": f"Assistant {seed}-{c}. " + " ".join(rng.choices(WORDS, k=150))}]
        for c in range(CONVERSATIONS)
    ]
    for turn in range(TURNS):
        for talk in talks:
            talk.append({"role": "user", "content": f"turn {turn}: " + " ".join(rng.choices(WORDS, k=8))})
            answer, _ = chat(url, talk, max_tokens=8)
            talk.append({"role": "assistant", "content": answer})


def prefix_phase(url: str, servers: list[VLLMServer], strategy: str, seed: int, workdir: Path) -> dict[str, Any]:
    use_strategy(url, servers, strategy, workdir)
    before = [engine(s) for s in servers]
    multi_turn(url, seed)
    after = [engine(s) for s in servers]
    hits = sum(a.prefix_cache_hits - b.prefix_cache_hits for a, b in zip(after, before, strict=True))
    queries = sum(a.prefix_cache_queries - b.prefix_cache_queries for a, b in zip(after, before, strict=True))
    return {"strategy": strategy, "hits": hits, "queries": queries, "rate": hits / queries if queries else 0.0}


@contextlib.contextmanager
def flooding(server: VLLMServer, threads: int = 6) -> Iterator[None]:
    """Keep ``server`` busy from outside the gateway until the block ends."""
    stop = threading.Event()

    def flood() -> None:
        body = {"model": server.model_name, "prompt": "flood", "max_tokens": 48, "ignore_eos": True}
        while not stop.is_set():
            httpx.post(f"{server.base_url}/completions", json=body, timeout=120)

    workers = [threading.Thread(target=flood, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 30
        while engine(server).waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(120)


def served(url: str) -> list[int]:
    state = httpx.get(f"{url}/admin/routing", headers=ADMIN, timeout=5).json()
    return [r["served"] for r in state["deployments"][0]["replicas"]]


def load_phase(url: str, servers: list[VLLMServer], strategy: str, workdir: Path) -> dict[str, Any]:
    use_strategy(url, servers, strategy, workdir)
    with flooding(servers[0]):
        waiting = engine(servers[0]).waiting
        time.sleep(0.5)  # let the gateway scrape the gauge
        before = served(url)
        took = [chat(url, [{"role": "user", "content": f"question {i}"}], max_tokens=4)[1] for i in range(12)]
        after = served(url)
    counts = [a - b for a, b in zip(after, before, strict=True)]
    return {"strategy": strategy, "waiting": waiting, "counts": counts, "p50": statistics.median(took)}


def report(prefix: list[dict[str, Any]], load: list[dict[str, Any]], servers: list[VLLMServer]) -> str:
    lines = [
        "## Prefix affinity against round robin (vLLM's prefix-cache counters, tokens)",
        "",
        f"{CONVERSATIONS} conversations × {TURNS} turns, interleaved, each with a ~150-word system prompt.",
        "",
        "| strategy | prefix-cache queries | hits | hit rate |",
        "|---|---:|---:|---:|",
    ]
    for row in prefix:
        lines.append(f"| {row['strategy']} | {row['queries']:.0f} | {row['hits']:.0f} | {row['rate']:.1%} |")
    ratio = prefix[1]["rate"] / prefix[0]["rate"] if prefix[0]["rate"] else float("inf")
    lines += ["", f"Affinity's hit rate is {ratio:.2f}× round robin's.", ""]
    lines += [
        "## Load-aware against least-outstanding, replica 0 flooded from outside the gateway",
        "",
        "| strategy | replica 0 waiting (vLLM gauge) | requests to replica 0 / 1 | p50 latency |",
        "|---|---:|---:|---:|",
    ]
    for row in load:
        share = " / ".join(str(c) for c in row["counts"])
        lines.append(f"| {row['strategy']} | {row['waiting']:.0f} | {share} | {row['p50'] * 1000:.0f} ms |")
    ratio = load[0]["p50"] / load[1]["p50"] if load[1]["p50"] else float("inf")
    lines += ["", f"p50 latency, least-outstanding over load-aware: {ratio:.2f}×.", ""]
    startup = ", ".join(f"{s.startup_seconds:.0f} s" for s in servers)
    lines.append(f"vLLM started with: `{' '.join(VLLM_ARGS)}`; startup {startup}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", help="also write the Markdown report to this file")
    args = parser.parse_args()
    ensure_vllm()
    model = ensure_model(Path.home() / ".cache" / "tollgate" / "tiny-llama")
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-vllm-routing-"))
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(running_vllm(model, extra_args=VLLM_ARGS, max_model_len=2048, startup_timeout=900))
            for _ in range(2)
        ]
        url = stack.enter_context(running_gateway(config(servers, "round_robin", workdir), workdir))
        prefix = [prefix_phase(url, servers, s, seed, workdir) for seed, s in enumerate(("round_robin", "affinity"))]
        load = [load_phase(url, servers, s, workdir) for s in ("least_outstanding", "load_aware")]
    text = report(prefix, load, servers)
    print(text)
    if args.write:
        Path(args.write).write_text(text)


if __name__ == "__main__":
    main()
