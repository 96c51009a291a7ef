"""The semantic cache matcher: finds a cached entry whose last user turn means the same as a new one.

The caller builds ``scope_key`` from everything that must match exactly (tenant, model, canonical
parameters, and the conversation before the last user turn); the matcher compares only within one
scope key, so answers never cross tenants, models or earlier turns. Inside a scope, a candidate must
reach the similarity threshold and pass every guard (numbers, negations, contrasts, names, swaps);
with a cross-encoder (the second stage, ``cross_encoder.py``), the candidates left are read together
with the new question in one batch, and only those it accepts may be served. Evidence for each
default: docs/semantic-cache-quality.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gateway.cache.guards import GUARDS, incompatible, signature
from gateway.cache.semantic_index import GRAPH_FROM, Candidate, SemanticIndex

# Chosen on the labelled set in docs/semantic-cache-quality.md.
DEFAULT_THRESHOLD = 0.85
# With the cross-encoder reading each candidate, the similarity only picks which few to read, and the
# guards that veto genuine rewordings (substitution: one-word synonyms; number: "two weeks" / "14 days";
# negation: "what's not included" / "any extra costs") are left to it. Chosen by cross-validation on the
# training side, never on the held-out half (docs/semantic-cache-quality.md, "Runs 10-12").
DEFAULT_THRESHOLD_WITH_CROSS_ENCODER = 0.65
CROSS_ENCODER_GUARDS = ("contrast", "prefix", "entity")
DEFAULT_ACCEPT = 0.9


class TextEmbedder(Protocol):
    @property
    def dimensions(self) -> int: ...

    def embed(self, text: str) -> npt.NDArray[np.float32]: ...


class PairScorer(Protocol):
    def scores(self, cached: Sequence[str], asked: str) -> npt.NDArray[np.float32]: ...


class SemanticMatcher:
    """``remember`` a stored entry's last user turn; ``match`` a new one against its scope.

    ``threshold`` and ``guards`` apply when a lookup skips the cross-encoder (or none is given);
    ``cross_encoder_threshold``, ``cross_encoder_guards`` and ``accept`` when it reads the candidates.
    """

    def __init__(
        self,
        embedder: TextEmbedder,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        guards: Sequence[str] = GUARDS,
        cross_encoder: PairScorer | None = None,
        cross_encoder_guards: Sequence[str] = CROSS_ENCODER_GUARDS,
        cross_encoder_threshold: float = DEFAULT_THRESHOLD_WITH_CROSS_ENCODER,
        accept: float = DEFAULT_ACCEPT,
        capacity_per_scope: int = 100_000,
        graph_from: int = GRAPH_FROM,
    ) -> None:
        unknown = (set(guards) | set(cross_encoder_guards)) - set(GUARDS)
        if unknown:
            raise ValueError(f"unknown guards: {sorted(unknown)}")
        self._embedder = embedder
        self._threshold = threshold
        self._guards = tuple(guards)
        self._cross_encoder = cross_encoder
        self._cross_guards = tuple(cross_encoder_guards)
        self._cross_threshold = cross_encoder_threshold
        self._accept = accept
        self.index = SemanticIndex(embedder.dimensions, capacity_per_scope=capacity_per_scope, graph_from=graph_from)

    def remember(
        self, scope_key: str, entry_id: str, last_user_turn: str, vector: npt.NDArray[np.float32] | None = None
    ) -> None:
        """``vector``: the turn's embedding, when the caller has it already (a served embedder's)."""
        self.index.add(scope_key, entry_id, self._vector(last_user_turn, vector), last_user_turn)

    def _vector(self, text: str, vector: npt.NDArray[np.float32] | None) -> npt.NDArray[np.float32]:
        return self._embedder.embed(text) if vector is None else vector

    def question(self, scope_key: str, entry_id: str) -> str | None:
        """The cached question (last user turn) of an entry ``match`` returned; what the judge reads."""
        return self.index.text_of(scope_key, entry_id)

    def forget(self, scope_key: str, entry_id: str) -> None:
        self.index.discard(scope_key, entry_id)

    def match(
        self,
        scope_key: str,
        last_user_turn: str,
        threshold: float | None = None,
        *,
        cross_encoder: bool = True,
        accept: float | None = None,
        vector: npt.NDArray[np.float32] | None = None,
    ) -> tuple[str, float] | None:
        """The entry id and similarity of the best match in ``scope_key`` that every stage lets through, or None.

        Per model: ``threshold`` overrides the similarity threshold; ``cross_encoder=False`` skips the
        second stage (then all of ``guards`` apply); ``accept`` overrides the probability it needs;
        ``vector`` is the turn's embedding if the caller has it already.
        """
        if self.index.size(scope_key) == 0:
            return None
        reading = cross_encoder and self._cross_encoder is not None
        if not reading:
            limit = self._threshold if threshold is None else threshold
            return self._guarded(scope_key, last_user_turn, limit, vector)
        limit = self._cross_threshold if threshold is None else threshold
        candidates = self.index.above(scope_key, self._vector(last_user_turn, vector), limit)
        asked = signature(last_user_turn)
        kept = [(c, text) for c, text in candidates if incompatible(signature(text), asked, self._cross_guards) is None]
        return self._read(kept, last_user_turn, self._accept if accept is None else accept)

    def _guarded(
        self, scope_key: str, last_user_turn: str, limit: float, vector: npt.NDArray[np.float32] | None
    ) -> tuple[str, float] | None:
        asked = signature(last_user_turn)

        def passes(stored_text: str) -> bool:
            return incompatible(signature(stored_text), asked, self._guards) is None

        found = self.index.search(scope_key, self._vector(last_user_turn, vector), limit, passes)
        return None if found is None else (found.entry_id, found.similarity)

    def _read(self, kept: list[tuple[Candidate, str]], asked: str, accept: float) -> tuple[str, float] | None:
        """The most similar candidate the cross-encoder accepts; all are read in one batch."""
        if not kept or self._cross_encoder is None:
            return None
        probabilities = self._cross_encoder.scores([text for _, text in kept], asked)
        for (candidate, _), probability in zip(kept, probabilities, strict=True):
            if probability >= accept:
                return candidate.entry_id, candidate.similarity
        return None
