"""How much the cross-encoder adds: hits on should-hit pairs and wrong answers on traps, per configuration.

Run (the project's venv, torch-free; what the gateway runs):
    OMP_NUM_THREADS=1 .venv/bin/python -m tools.cross_encoder.evaluate
Pairs: fow-cache's "held out" half (split.py: never trained on) and Tollgate's own 48 pairs
(tests/perf/data/semantic_pairs.jsonl: never trained on either). For each configuration, the best
should-hit rate over the thresholds whose wrong-answer rate on traps is at most 2 %, then the shipped
defaults' per-category table and the real matcher's lookup latency with the cross-encoder on.
``--pairs FILE`` rates an operator's own labelled pairs instead, JSONL or CSV (by the file's suffix),
one pair a line: ``question`` (the new one), ``cached_question`` and ``should_hit`` (true/false, 1/0,
yes/no), optionally ``category`` (else "paraphrase" or "trap" from the label); the built-in sets'
``a``, ``b``, ``same_answer`` are read too. ``--embedder-onnx FILE --tokenizer FILE`` measures with an
ONNX embedder of their own (``cache.embedder.onnx``) instead of the built-in MiniLM.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway.cache.cross_encoder import CrossEncoder
from gateway.cache.embedder import Embedder
from gateway.cache.guards import GUARDS, incompatible, signature
from gateway.cache.matcher import (
    CROSS_ENCODER_GUARDS,
    DEFAULT_ACCEPT,
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_WITH_CROSS_ENCODER,
    SemanticMatcher,
)
from tools.cross_encoder.split import fow_pairs

OWN = Path(__file__).resolve().parents[2] / "tests" / "perf" / "data" / "semantic_pairs.jsonl"
SIMS = (*(round(0.50 + 0.05 * i, 2) for i in range(10)), 0.97, 0.99)
ACCEPTS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
MAX_WRONG = 0.02


@dataclass(frozen=True)
class Scored:
    item: dict[str, Any]
    similarity: float
    vetoes: frozenset[str]
    probability: float

    def served(self, sim: float, guards: Sequence[str], accept: float | None) -> bool:
        if self.similarity < sim or self.vetoes & set(guards):
            return False
        return accept is None or self.probability >= accept


def score(items: list[dict[str, Any]], embedder: Embedder, encoder: CrossEncoder) -> list[Scored]:
    a = embedder.embed_many([i["a"] for i in items])
    b = embedder.embed_many([i["b"] for i in items])
    out = []
    for item, sim in zip(items, (a * b).sum(axis=1), strict=True):
        sa, sb = signature(item["a"]), signature(item["b"])
        vetoes = frozenset(g for g in GUARDS if incompatible(sa, sb, (g,)))
        out.append(Scored(item, float(sim), vetoes, float(encoder.scores([item["a"]], item["b"])[0])))
    return out


def rates(scored: list[Scored], sim: float, guards: Sequence[str], accept: float | None) -> tuple[float, float, float]:
    """(should-hit rate, reworded-paraphrase rate, wrong-answer rate on traps)."""
    good = [s for s in scored if s.item["same_answer"]]
    para = [s for s in good if s.item["category"] == "paraphrase"]
    bad = [s for s in scored if not s.item["same_answer"]]

    def rate(rows: list[Scored]) -> float:
        return sum(s.served(sim, guards, accept) for s in rows) / max(1, len(rows))

    return rate(good), rate(para), rate(bad)


CONFIGS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("similarity alone", (), False),
    ("similarity + all guards", GUARDS, False),
    ("similarity + cross-encoder", (), True),
    ("similarity + all guards + cross-encoder", GUARDS, True),
    (f"similarity + {', '.join(CROSS_ENCODER_GUARDS)} (the defaults) + cross-encoder", CROSS_ENCODER_GUARDS, True),
)


def best_table(scored: list[Scored]) -> list[str]:
    lines = [
        "| configuration | best should-hit served at ≤ 2 % wrong | paraphrases | wrong on traps"
        " | at similarity / accept |",
        "|---|---:|---:|---:|---|",
    ]
    for label, guards, cross in CONFIGS:
        best: tuple[float, float, float, str] = (0.0, 0.0, 0.0, "none qualifies")
        for sim in SIMS:
            for accept in ACCEPTS if cross else (None,):
                good, para, bad = rates(scored, sim, guards, accept)
                if bad <= MAX_WRONG and good > best[0]:
                    best = (good, para, bad, f"{sim:.2f} / {accept if accept is not None else '-'}")
        lines.append(f"| {label} | {best[0]:.1%} | {best[1]:.1%} | {best[2]:.1%} | {best[3]} |")
    return lines


def category_table(scored: list[Scored], sim: float, guards: Sequence[str], accept: float | None) -> list[str]:
    lines = ["| category | pairs | served | rate |", "|---|---:|---:|---:|"]
    for cat in sorted({s.item["category"] for s in scored}):
        rows = [s for s in scored if s.item["category"] == cat]
        served = sum(s.served(sim, guards, accept) for s in rows)
        kind = "should hit" if rows[0].item["same_answer"] else "trap"
        lines.append(f"| {cat} ({kind}) | {len(rows)} | {served} | {served / len(rows):.1%} |")
    good, para, bad = rates(scored, sim, guards, accept)
    lines.append(f"| **should-hit / paraphrases / wrong on traps** | | | **{good:.1%} / {para:.1%} / {bad:.1%}** |")
    return lines


def sweep_table(scored: list[Scored]) -> list[str]:
    lines = ["| similarity | " + " | ".join(f"accept {a}" for a in ACCEPTS) + " |", "|---:|" + "---|" * len(ACCEPTS)]
    for sim in SIMS:
        cells = []
        for accept in ACCEPTS:
            good, _, bad = rates(scored, sim, CROSS_ENCODER_GUARDS, accept)
            cells.append(f"{good:.0%} / {bad:.1%}")
        lines.append(f"| {sim:.2f} | " + " | ".join(cells) + " |")
    return lines


def latency(
    items: list[dict[str, Any]], embedder: Embedder, encoder: CrossEncoder, config: tuple[float, Sequence[str], float]
) -> str:
    """The real matcher, cross-encoder on, ``config`` (similarity, guards, accept): one lookup per pair against a
    scope holding its cached question."""
    sim, guards, accept = config
    matcher = SemanticMatcher(
        embedder, cross_encoder=encoder, cross_encoder_threshold=sim, cross_encoder_guards=guards, accept=accept
    )
    for n, item in enumerate(items):
        matcher.remember(f"s{n}", f"e{n}", item["a"])
    wall, cpu, ce_cpu = [], [], []
    for n, item in enumerate(items):
        start, start_cpu = time.perf_counter(), time.thread_time()
        matcher.match(f"s{n}", item["b"])
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        start_cpu = time.thread_time()
        encoder.scores([item["a"]], item["b"])
        ce_cpu.append((time.thread_time() - start_cpu) * 1000)
    # CPU time is what one idle core would take; wall time includes waiting for a core on a shared machine.
    return (
        f"Lookup through the real matcher (embedding, search, guards, cross-encoder when a candidate passes), "
        f"{len(wall)} lookups, one thread: CPU time p50 {statistics.median(cpu):.1f} ms, p99 "
        f"{float(np.percentile(cpu, 99)):.1f} ms; wall time p50 {statistics.median(wall):.1f} ms, p99 "
        f"{float(np.percentile(wall, 99)):.1f} ms. The cross-encoder alone on one pair: CPU time p50 "
        f"{statistics.median(ce_cpu):.1f} ms."
    )


_NAMES = {"cached": ("cached_question", "a"), "asked": ("question", "b"), "label": ("should_hit", "same_answer")}
_YES, _NO = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}


def load_own(path: Path) -> list[dict[str, Any]]:
    """Labelled pairs from a JSONL or CSV file, as the tables read them; a bad line stops with its number."""
    with path.open(newline="") as f:
        if path.suffix.lower() == ".csv":
            rows: list[dict[str, Any]] = list(csv.DictReader(f))
        else:
            rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise SystemExit(f"{path}: no pairs")
    return [_pair(row, f"{path}:{n}") for n, row in enumerate(rows, 2 if path.suffix.lower() == ".csv" else 1)]


def _pair(row: dict[str, Any], where: str) -> dict[str, Any]:
    found = {key: next((row[n] for n in names if row.get(n) not in (None, "")), None) for key, names in _NAMES.items()}
    label = found["label"]
    word = str(label).strip().lower()
    if found["cached"] is None or found["asked"] is None or not (isinstance(label, bool) or word in _YES | _NO):
        raise SystemExit(f"{where}: needs question, cached_question and should_hit (true or false); got {row}")
    hit = label if isinstance(label, bool) else word in _YES
    category = row.get("category") or ("paraphrase" if hit else "trap")
    return {"a": str(found["cached"]), "b": str(found["asked"]), "same_answer": hit, "category": category}


def add_symmetric(parser: argparse.ArgumentParser) -> None:
    """``--symmetric`` (the default, as the gateway reads) / ``--no-symmetric``: both orders or one."""
    parser.add_argument(
        "--symmetric", action=argparse.BooleanOptionalAction, default=True,
        help="read each pair in both orders and average the logits, as the gateway does (--no-symmetric: one order)",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=Path, help="an operator's labelled pairs instead of the built-in sets")
    parser.add_argument("--model", type=Path, help="a cross-encoder ONNX file other than the shipped one")
    add_symmetric(parser)
    parser.add_argument("--embedder-onnx", type=Path, help="an ONNX sentence encoder instead of MiniLM")
    parser.add_argument("--tokenizer", type=Path, help="the tokenizer.json of --embedder-onnx")
    parser.add_argument("--similarity", type=float, default=DEFAULT_THRESHOLD_WITH_CROSS_ENCODER)
    parser.add_argument("--accept", type=float, default=DEFAULT_ACCEPT)
    parser.add_argument("--guards", default=",".join(CROSS_ENCODER_GUARDS), help="comma-separated, '' for none")
    args = parser.parse_args()
    if (args.embedder_onnx is None) != (args.tokenizer is None):
        parser.error("--embedder-onnx and --tokenizer go together")
    embedder, encoder = Embedder(args.embedder_onnx, args.tokenizer), CrossEncoder(args.model, symmetric=args.symmetric)
    sets = {"your pairs": load_own(args.pairs)} if args.pairs else {
        "fow-cache, held-out half": fow_pairs("held out"), "Tollgate's own pairs": load_own(OWN)}  # fmt: skip
    guards = tuple(g for g in args.guards.split(",") if g)
    if set(guards) - set(GUARDS):
        parser.error(f"--guards: unknown {sorted(set(guards) - set(GUARDS))}; known: {', '.join(GUARDS)}")
    defaults = (args.similarity, guards, args.accept)
    for name, items in sets.items():
        scored = score(items, embedder, encoder)
        print(f"\n### {name}: {len(items)} pairs\n")
        print("\n".join(best_table(scored)))
        print(f"\nSimilarity ≥ {defaults[0]}, guards {', '.join(guards) or 'none'}, accept ≥ {defaults[2]}:\n")
        print("\n".join(category_table(scored, *defaults)))
        print(f"\nWithout the cross-encoder (similarity ≥ {DEFAULT_THRESHOLD}, all guards):\n")
        print("\n".join(category_table(scored, DEFAULT_THRESHOLD, GUARDS, None)))
        guarded = ", ".join(CROSS_ENCODER_GUARDS)
        print(f"\nShould-hit served / wrong on traps, guards {guarded}, by similarity and accept:\n")
        print("\n".join(sweep_table(scored)))
    items = fow_pairs("held out") if not args.pairs else load_own(args.pairs)
    print("\n" + latency(items, embedder, encoder, defaults))


if __name__ == "__main__":
    main()
