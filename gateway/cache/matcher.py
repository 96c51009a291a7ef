"""The semantic cache matcher: finds a cached entry whose last user turn means the same as a new one.

The caller builds ``scope_key`` from everything that must match exactly (tenant, model, canonical
parameters, and the conversation before the last user turn); the matcher compares only within one
scope key, so answers never cross tenants, models or earlier turns. Inside a scope, a candidate must
reach the similarity threshold and pass every guard (numbers, negations, contrasts, names, swaps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gateway.cache.guards import GUARDS, incompatible, signature
from gateway.cache.semantic_index import GRAPH_FROM, SemanticIndex

# Chosen on the labelled set in docs/semantic-cache-quality.md.
DEFAULT_THRESHOLD = 0.85


class TextEmbedder(Protocol):
    @property
    def dimensions(self) -> int: ...

    def embed(self, text: str) -> npt.NDArray[np.float32]: ...


class SemanticMatcher:
    """``remember`` a stored entry's last user turn; ``match`` a new one against its scope."""

    def __init__(
        self,
        embedder: TextEmbedder,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        guards: Sequence[str] = GUARDS,
        capacity_per_scope: int = 100_000,
        graph_from: int = GRAPH_FROM,
    ) -> None:
        unknown = set(guards) - set(GUARDS)
        if unknown:
            raise ValueError(f"unknown guards: {sorted(unknown)}")
        self._embedder = embedder
        self._threshold = threshold
        self._guards = tuple(guards)
        self.index = SemanticIndex(embedder.dimensions, capacity_per_scope=capacity_per_scope, graph_from=graph_from)

    def remember(self, scope_key: str, entry_id: str, last_user_turn: str) -> None:
        self.index.add(scope_key, entry_id, self._embedder.embed(last_user_turn), last_user_turn)

    def forget(self, scope_key: str, entry_id: str) -> None:
        self.index.discard(scope_key, entry_id)

    def match(self, scope_key: str, last_user_turn: str, threshold: float | None = None) -> tuple[str, float] | None:
        """The entry id and similarity of the best guarded match in ``scope_key``, or None.

        ``threshold`` overrides the matcher's default (thresholds are set per model).
        """
        if self.index.size(scope_key) == 0:
            return None
        asked = signature(last_user_turn)

        def accept(stored_text: str) -> bool:
            return incompatible(signature(stored_text), asked, self._guards) is None

        limit = self._threshold if threshold is None else threshold
        found = self.index.search(scope_key, self._embedder.embed(last_user_turn), limit, accept)
        return None if found is None else (found.entry_id, found.similarity)
