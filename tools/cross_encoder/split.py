"""The fixed split of fow-cache's question pairs: by cached question, so no cached question is on two sides.

Two halves by a hash of the cached question: "held out" (only ever evaluated, once per final model) and
the train half, which a second, independent hash cuts again: one cached question in VALIDATION_SHARE goes
to "validation" (tune.py chooses similarity, guards and accept on it; the generator never reads it), the
rest to "train" (what the generator turns into training pairs). A third hash cuts the whole train half
in two folds ("fold 1", "fold 2") for cross-validation (runs 10-12 of docs/semantic-cache-quality.md): a
model trained on one fold's pairs rates the other's, so that every one of the train half's 276 pairs is
rated by a model that never saw it, and the final model is trained on the whole "train half".
"""

from __future__ import annotations

import hashlib
from typing import Any

import fow_cache.data as fow

PARTS = ("train", "validation", "held out", "train half", "fold 1", "fold 2")
VALIDATION_SHARE = 3


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def half(cached_question: str) -> str:
    key = " ".join(cached_question.lower().split())
    return ("train", "held out")[_hash(key) % 2]


def part(cached_question: str) -> str:
    """ "train", "validation" or "held out"; the halves are those of ``half``, unchanged."""
    if half(cached_question) == "held out":
        return "held out"
    # A salted hash: the same key's parity already decided the half, so it cannot decide this cut too.
    key = " ".join(cached_question.lower().split())
    return "validation" if _hash(f"validation:{key}") % VALIDATION_SHARE == 0 else "train"


def fold(cached_question: str) -> str:
    """ "fold 1" or "fold 2" for a train-half question, by a third, independently salted hash."""
    key = " ".join(cached_question.lower().split())
    return f"fold {_hash(f'fold:{key}') % 2 + 1}"


def names(cached_question: str) -> set[str]:
    """Every part a cached question belongs to."""
    if half(cached_question) == "held out":
        return {"held out"}
    return {part(cached_question), "train half", fold(cached_question)}


def fow_pairs(which: str) -> list[dict[str, Any]]:
    """fow-cache's question pairs of one part ("train", "validation", "held out", "train half" or a fold)."""
    if which not in PARTS:
        raise ValueError(f"unknown part {which!r}; known: {', '.join(PARTS)}")
    return [item for item in fow.load_questions() if which in names(item["a"])]
