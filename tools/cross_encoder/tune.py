"""Choose the matcher's configuration (similarity, guards, cross-encoder accept) on the TRAINING side only.

Run:  OMP_NUM_THREADS=1 .venv/bin/python -m tools.cross_encoder.tune

The validation set is fow-cache's "train" half (split.py) plus a fixed-seed sample of the generator's
other pairs (generate.py); the "held out" half is never read here. Every guard subset, similarity and
accept of evaluate.py's grid is rated; the chosen point serves the most should-hit pairs while at most
2 % of the traps are served in EACH part (fow-cache's train half and the generated sample), ties going to
the higher similarity (fewer candidates read), the higher accept, then more guards. Caveat: the
cross-encoder was trained on these very pairs (no pair was kept out, and there is no time to retrain),
so its scores here are more confident than on unseen pairs; what the choice is worth is told only by
the one held-out report made after it (``evaluate --guards ... --similarity ... --accept ...``).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np

from gateway.cache.cross_encoder import CrossEncoder
from gateway.cache.embedder import Embedder
from gateway.cache.guards import GUARDS
from tools.cross_encoder.evaluate import ACCEPTS, MAX_WRONG, SIMS, Scored, rates, score
from tools.cross_encoder.generate import build
from tools.cross_encoder.split import fow_pairs

SAMPLE = 600
SAMPLE_SEED = 7


def validation() -> dict[str, list[dict[str, Any]]]:
    """fow-cache's train half and a sample of the generator's own pairs (not its copies of fow-cache)."""
    fow = [dict(i, part="fow train half") for i in fow_pairs("train")]
    generated = {(p["a"], p["b"]): p for p in build() if not p["kind"].startswith("fow:")}
    rows = sorted(generated.values(), key=lambda p: (p["a"], p["b"]))
    sample = random.Random(SAMPLE_SEED).sample(rows, SAMPLE)
    gen = [{"a": p["a"], "b": p["b"], "same_answer": bool(p["label"]), "category": p["kind"]} for p in sample]
    return {"fow train half": fow, "generated sample": gen}


def _rate(mask: np.ndarray[Any, np.dtype[np.bool_]], rows: np.ndarray[Any, np.dtype[np.bool_]]) -> float:
    return float((mask & rows).sum() / max(1, rows.sum()))


def choose(parts: dict[str, list[Scored]]) -> list[tuple[tuple[float, float, float, int], str, float, float | None]]:
    """Every qualifying (guards, similarity, accept), best first, with its combined should-hit rate."""
    scored = [s for rows in parts.values() for s in rows]
    sim = np.array([s.similarity for s in scored])
    prob = np.array([s.probability for s in scored])
    good = np.array([bool(s.item["same_answer"]) for s in scored])
    part_of = np.array([s.item["part"] for s in scored])
    vetoed = {g: np.array([g in s.vetoes for s in scored]) for g in GUARDS}
    found = []
    for n in range(len(GUARDS) + 1):
        for guards in itertools.combinations(GUARDS, n):
            passed = np.ones(len(scored), dtype=bool)
            for g in guards:
                passed &= ~vetoed[g]
            for threshold, accept in itertools.product(SIMS, (None, *ACCEPTS)):
                served = passed & (sim >= threshold) & (prob >= (0.0 if accept is None else accept))
                wrongs = [_rate(served, ~good & (part_of == p)) for p in parts]
                if max(wrongs) <= MAX_WRONG:
                    hit = _rate(served, good)
                    key = (hit, threshold, accept if accept is not None else 0.0, len(guards))
                    found.append((key, ",".join(guards) or "none", threshold, accept))
    return sorted(found, key=lambda f: f[0], reverse=True)


def main() -> None:
    embedder, encoder = Embedder(), CrossEncoder()
    sets = validation()
    parts = {name: score([dict(i, part=name) for i in items], embedder, encoder) for name, items in sets.items()}
    print("validation: " + ", ".join(f"{name} {len(rows)} pairs" for name, rows in parts.items()))
    print("\n| rank | guards | similarity | accept | should-hit (all validation) |\n|---:|---|---:|---:|---:|")
    ranked = choose(parts)
    for rank, (key, guards, threshold, accept) in enumerate(ranked[:15], 1):
        print(f"| {rank} | {guards} | {threshold:.2f} | {accept if accept is not None else '-'} | {key[0]:.1%} |")
    _, guards, threshold, accept = ranked[0]
    chosen = tuple(g for g in guards.split(",") if g in GUARDS)
    for name, rows in parts.items():
        good, _, bad = rates(rows, threshold, chosen, accept)
        print(f"\nChosen point on {name}: should-hit {good:.1%}, wrong on traps {bad:.1%}")
    print(
        "\nWhat each guard vetoes among the pairs the cross-encoder accepts"
        f" (similarity >= {threshold}, accept {accept}):"
    )
    print("\n| guard | should-hit pairs vetoed | traps vetoed |\n|---|---:|---:|")
    passed = [s for rows in parts.values() for s in rows if s.served(threshold, (), accept)]
    for g in GUARDS:
        lost = sum(g in s.vetoes for s in passed if s.item["same_answer"])
        print(f"| {g} | {lost} | {sum(g in s.vetoes for s in passed if not s.item['same_answer'])} |")


if __name__ == "__main__":
    main()
