"""The fixed split of fow-cache's question pairs: by cached question, so no cached question is on both sides.

The cross-encoder trains on the "train" half and is reported on the "held out" half only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import fow_cache.data as fow


def half(cached_question: str) -> str:
    key = " ".join(cached_question.lower().split())
    return ("train", "held out")[int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2]


def fow_pairs(which: str) -> list[dict[str, Any]]:
    """fow-cache's question pairs of one half ("train" or "held out")."""
    return [item for item in fow.load_questions() if half(item["a"]) == which]
