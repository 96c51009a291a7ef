"""Choose the matcher's configuration (similarity, guards, cross-encoder accept) on the VALIDATION part only.

Run:  OMP_NUM_THREADS=1 .venv/bin/python -m tools.cross_encoder.tune [--model /tmp/ce/model.onnx]

The validation set is fow-cache's "validation" part (split.py: a third of the train half, by a hash of the
cached question; the generator never reads it, so the model never saw its pairs) plus a fixed-seed sample of
generated pairs drawn with another seed and not among the training pairs (templates the model did see, so
only a check that the chosen point also holds on the generator's trap kinds), plus the "validation edits":
the generator's derivations (generate.derived: one-slot edits as traps, near repeats, reworded openers,
edits of a paraphrase against the original wording) of the validation part's own questions, which the model
never saw (452 pairs, 146 traps, once a pair a training file holds is dropped). No "held out" pair is rated
here (the generator reads them only to drop a generated pair equal to one). Every guard subset, similarity
and accept of evaluate.py's grid is rated; the chosen point serves the most should-hit pairs of the fow
validation part while at most 2 % of the traps are served in EACH part, ties going to the most should-hit
pairs of all parts together (the 48 real should-hit pairs alone cannot tell neighbouring thresholds apart),
then the higher similarity (fewer candidates read), the higher accept, then more guards. The same key
compares models (epochs, ``--symmetric``): the best first row wins. With ``--margin`` (runs 8-9) the point
is then taken, among those serving at most ONE fow validation pair fewer than the best, with the highest
accept (then all parts' should-hit, similarity, guards): validation traps are easier than unseen ones (run
5's choice, accept 0.3, let through five held-out traps scored 0.3-0.9), so a point that costs at most one
real pair buys a margin on the model's confidence. What the choice is worth is told by the
one held-out report made after it (``evaluate --guards ... --similarity ... --accept ...``).
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path
from typing import Any

import numpy as np

from gateway.cache.cross_encoder import CrossEncoder
from gateway.cache.embedder import Embedder
from gateway.cache.guards import GUARDS
from tools.cross_encoder.evaluate import ACCEPTS, MAX_WRONG, SIMS, Scored, rates, score
from tools.cross_encoder.generate import SEED, build, derived
from tools.cross_encoder.split import fow_pairs

SAMPLE = 600
SAMPLE_SEED = 7
FOW = "fow validation part"


def validation() -> dict[str, list[dict[str, Any]]]:
    """fow-cache's validation part and a sample of generated pairs the training file does not hold."""
    fow = fow_pairs("validation")
    # Absent from the training file with the REWORDED families and from the one without them, and drawn
    # without them, so that models trained on either are rated on the same pairs.
    trained = {(p["a"], p["b"]) for reworded in (False, True) for p in build(reworded=reworded)}
    drawn = build(SEED + SAMPLE_SEED, reworded=False)
    other = {(p["a"], p["b"]): p for p in drawn if not p["kind"].startswith(("fow:", "edit:"))}
    rows = sorted((p for key, p in other.items() if key not in trained), key=lambda p: (p["a"], p["b"]))
    sample = random.Random(SAMPLE_SEED).sample(rows, SAMPLE)
    gen = [{"a": p["a"], "b": p["b"], "same_answer": bool(p["label"]), "category": p["kind"]} for p in sample]
    edits = [p for p in derived(random.Random(SAMPLE_SEED), fow) if (p["a"], p["b"]) not in trained]
    own = [{"a": p["a"], "b": p["b"], "same_answer": bool(p["label"]), "category": p["kind"]} for p in edits]
    return {FOW: fow, "validation edits": own, "generated sample": gen}


def _rate(mask: np.ndarray[Any, np.dtype[np.bool_]], rows: np.ndarray[Any, np.dtype[np.bool_]]) -> float:
    return float((mask & rows).sum() / max(1, rows.sum()))


Point = tuple[tuple[float, float, float, float, int], str, float, float | None]


def with_margin(ranked: list[Point], fow_good: int) -> list[Point]:
    """The points within one fow should-hit pair of the best, highest accept first, then the rest."""
    if not ranked:
        return ranked
    floor = ranked[0][0][0] - 1 / fow_good - 1e-9
    near = [p for p in ranked if p[0][0] >= floor]
    near.sort(key=lambda p: (p[0][3], p[0][1], p[0][2], p[0][4]), reverse=True)
    return near + [p for p in ranked if p[0][0] < floor]


def choose(parts: dict[str, list[Scored]]) -> list[Point]:
    """Every qualifying (guards, similarity, accept), best first, with its should-hit rate on the fow part."""
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
                    hit = _rate(served, good & (part_of == FOW))
                    key = (hit, _rate(served, good), threshold, accept if accept is not None else 0.0, len(guards))
                    found.append((key, ",".join(guards) or "none", threshold, accept))
    return sorted(found, key=lambda f: f[0], reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="a cross-encoder ONNX file other than the shipped one")
    parser.add_argument("--symmetric", action="store_true", help="read each pair in both orders, average the logits")
    parser.add_argument("--margin", action="store_true", help="within one fow pair of the best, highest accept")
    args = parser.parse_args()
    embedder, encoder = Embedder(), CrossEncoder(args.model, symmetric=args.symmetric)
    sets = validation()
    parts = {name: score([dict(i, part=name) for i in items], embedder, encoder) for name, items in sets.items()}
    print("validation: " + ", ".join(f"{name} {len(rows)} pairs" for name, rows in parts.items()))
    print(f"\n| rank | guards | similarity | accept | should-hit ({FOW}) | should-hit (all parts) |")
    print("|---:|---|---:|---:|---:|---:|")
    ranked = choose(parts)
    best = ranked[0][0]
    print(f"\nModel key (the rule's best point): should-hit {best[0]:.1%} ({FOW}), {best[1]:.1%} (all parts)")
    if args.margin:
        ranked = with_margin(ranked, sum(bool(s.item["same_answer"]) for s in parts[FOW]))
    for rank, (key, guards, threshold, accept) in enumerate(ranked[:15], 1):
        shown = accept if accept is not None else "-"
        print(f"| {rank} | {guards} | {threshold:.2f} | {shown} | {key[0]:.1%} | {key[1]:.1%} |")
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
