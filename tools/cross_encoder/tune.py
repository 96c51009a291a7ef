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
is then taken, among those serving at most one real pair (or 2 points, if more) fewer than the best, with the highest
accept (then all parts' should-hit, similarity, guards): validation traps are easier than unseen ones (run
5's choice, accept 0.3, let through five held-out traps scored 0.3-0.9), so a point that costs at most one
real pair buys a margin on the model's confidence. ``--folds FOLD1 FOLD2`` (runs 10-12) rates two models
trained on the train half's two folds (``generate --real "fold 1"``) on each other's fold instead: all 276 of
the train half's real pairs (138 traps, so that <= 2 % allows two), the generator's edits of each fold's
questions and half of the generated sample each, every pair by the model that never saw it; the point chosen
there is then used with the model trained on the whole train half (``generate --real "train half"``).
What the choice is worth is told by the one held-out report made after it
(``evaluate --guards ... --similarity ... --accept ...``).
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
from tools.cross_encoder.evaluate import ACCEPTS, MAX_WRONG, SIMS, Scored, add_symmetric, rates, score
from tools.cross_encoder.generate import SEED, build, derived, unordered
from tools.cross_encoder.split import fow_pairs

SAMPLE = 600
SAMPLE_SEED = 7
MARGIN = 0.02
FOW = "fow validation part"
OUT_OF_FOLD = "fow train half, out of fold"


def _labelled(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"a": p["a"], "b": p["b"], "same_answer": bool(p["label"]), "category": p["kind"]} for p in pairs]


def _trained(pairs: list[dict[str, Any]]) -> set[frozenset[str]]:
    return {unordered(p) for p in pairs}


def _sample(trained: set[frozenset[str]]) -> list[dict[str, Any]]:
    """600 generated pairs drawn with another seed, none of them in ``trained`` in either order, none derived
    from fow-cache."""
    drawn = build(SEED + SAMPLE_SEED, reworded=False)
    other = {(p["a"], p["b"]): p for p in drawn if not p["kind"].startswith(("fow:", "edit:"))}
    rows = sorted((p for p in other.values() if unordered(p) not in trained), key=lambda p: (p["a"], p["b"]))
    return _labelled(random.Random(SAMPLE_SEED).sample(rows, SAMPLE))


def validation() -> dict[str, list[dict[str, Any]]]:
    """fow-cache's validation part and a sample of generated pairs the training file does not hold."""
    fow = fow_pairs("validation")
    # Absent from the training file with the REWORDED families and from the one without them, and drawn
    # without them, so that models trained on either are rated on the same pairs.
    trained = _trained(build(reworded=False)) | _trained(build(reworded=True))
    edits = [p for p in derived(random.Random(SAMPLE_SEED), fow) if unordered(p) not in trained]
    return {FOW: fow, "validation edits": _labelled(edits), "generated sample": _sample(trained)}


def out_of_fold(models: tuple[CrossEncoder, CrossEncoder], embedder: Embedder) -> dict[str, list[Scored]]:
    """Each fold's pairs (and the generator's edits of its questions) rated by the model trained on the other
    fold, and half of the generated sample by each: every pair by a model that never saw it (``--folds``)."""
    parts: dict[str, list[Scored]] = {OUT_OF_FOLD: [], "edits out of fold": [], "generated sample": []}
    for n, (rated, model) in enumerate((("fold 2", models[0]), ("fold 1", models[1]))):
        trained = _trained(build(reworded=False, real="fold 2" if n else "fold 1"))
        fow = fow_pairs(rated)
        edits = [p for p in derived(random.Random(SAMPLE_SEED), fow) if unordered(p) not in trained]
        sample = _sample(trained)[n * SAMPLE // 2 : (n + 1) * SAMPLE // 2]
        for name, items in ((OUT_OF_FOLD, fow), ("edits out of fold", _labelled(edits)), ("generated sample", sample)):
            parts[name] += score([dict(i, part=name) for i in items], embedder, model)
    return parts


def _rate(mask: np.ndarray[Any, np.dtype[np.bool_]], rows: np.ndarray[Any, np.dtype[np.bool_]]) -> float:
    return float((mask & rows).sum() / max(1, rows.sum()))


Point = tuple[tuple[float, float, float, float, int], str, float, float | None]


def with_margin(ranked: list[Point], fow_good: int) -> list[Point]:
    """The points within one fow should-hit pair (at least MARGIN) of the best, highest accept first, then the
    rest."""
    if not ranked:
        return ranked
    floor = ranked[0][0][0] - max(1 / fow_good, MARGIN) - 1e-9
    near = [p for p in ranked if p[0][0] >= floor]
    near.sort(key=lambda p: (p[0][3], p[0][1], p[0][2], p[0][4]), reverse=True)
    return near + [p for p in ranked if p[0][0] < floor]


def choose(parts: dict[str, list[Scored]]) -> list[Point]:
    """Every qualifying (guards, similarity, accept), best first, with its should-hit rate on the fow part."""
    scored = [s for rows in parts.values() for s in rows]
    real = next(iter(parts))  # the fow-cache part, whose should-hit pairs decide
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
                    hit = _rate(served, good & (part_of == real))
                    key = (hit, _rate(served, good), threshold, accept if accept is not None else 0.0, len(guards))
                    found.append((key, ",".join(guards) or "none", threshold, accept))
    return sorted(found, key=lambda f: f[0], reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="a cross-encoder ONNX file other than the shipped one")
    parser.add_argument(
        "--folds", type=Path, nargs=2, metavar=("FOLD1", "FOLD2"),
        help="cross-validation: the models trained on fold 1 and on fold 2 (generate --real 'fold 1')",
    )  # fmt: skip
    add_symmetric(parser)
    parser.add_argument(
        "--margin", action="store_true", help="within one real pair (at least 2 points) of the best, highest accept"
    )
    args = parser.parse_args()
    embedder = Embedder()
    if args.folds:
        folds = (
            CrossEncoder(args.folds[0], symmetric=args.symmetric),
            CrossEncoder(args.folds[1], symmetric=args.symmetric),
        )
        parts = out_of_fold(folds, embedder)
    else:
        encoder = CrossEncoder(args.model, symmetric=args.symmetric)
        parts = {
            name: score([dict(i, part=name) for i in items], embedder, encoder) for name, items in validation().items()
        }
    real = next(iter(parts))
    print("validation: " + ", ".join(f"{name} {len(rows)} pairs" for name, rows in parts.items()))
    ranked = choose(parts)
    best = ranked[0][0]
    print(f"\nModel key (the rule's best point): should-hit {best[0]:.1%} ({real}), {best[1]:.1%} (all parts)")
    if args.margin:
        ranked = with_margin(ranked, sum(bool(s.item["same_answer"]) for s in parts[real]))
    print(f"\n| rank | guards | similarity | accept | should-hit ({real}) | should-hit (all parts) |")
    print("|---:|---|---:|---:|---:|---:|")
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
