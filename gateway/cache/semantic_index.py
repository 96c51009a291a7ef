"""An in-memory vector index per cache scope: brute-force cosine search over unit vectors.

Memory: each entry costs one float32 row (384 × 4 = 1,536 bytes) plus its id and guard signature
(a few hundred bytes of Python objects); about 150 MiB of vectors per 100,000 entries in one scope.
The measured totals are in docs/semantic-cache-quality.md. A scope never grows past ``capacity``:
the oldest entry is overwritten first. Scopes are isolated: a search reads one scope's matrix only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.cache.guards import Signature

Vector = npt.NDArray[np.float32]
Veto = Callable[[Signature, Signature], str | None]

TOP_CANDIDATES = 8
_INITIAL_ROWS = 64


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    similarity: float


@dataclass(slots=True)
class _Scope:
    dimensions: int
    capacity: int
    vectors: Vector = field(init=False)
    ids: list[str | None] = field(default_factory=list)
    signatures: list[Signature | None] = field(default_factory=list)
    written: int = 0

    def __post_init__(self) -> None:
        self.vectors = np.zeros((min(_INITIAL_ROWS, self.capacity), self.dimensions), dtype=np.float32)

    def add(self, entry_id: str, vector: Vector, sig: Signature) -> None:
        slot = self.written % self.capacity
        if slot >= self.vectors.shape[0]:
            grown = np.zeros((min(self.capacity, 2 * self.vectors.shape[0]), self.dimensions), np.float32)
            grown[: self.vectors.shape[0]] = self.vectors
            self.vectors = grown
        self.vectors[slot] = vector
        if slot == len(self.ids):
            self.ids.append(entry_id)
            self.signatures.append(sig)
        else:
            self.ids[slot], self.signatures[slot] = entry_id, sig
        self.written += 1

    def discard(self, entry_id: str) -> None:
        for slot, known in enumerate(self.ids):
            if known == entry_id:
                self.ids[slot], self.signatures[slot] = None, None
                self.vectors[slot] = 0.0

    def search(self, query: Vector, sig: Signature, threshold: float, veto: Veto) -> Candidate | None:
        used = len(self.ids)
        if used == 0:
            return None
        scores = self.vectors[:used] @ query
        above = np.flatnonzero(scores >= threshold)
        if above.size > TOP_CANDIDATES:
            above = above[np.argpartition(scores[above], -TOP_CANDIDATES)[-TOP_CANDIDATES:]]
        for slot in above[np.argsort(-scores[above])]:
            entry_id, cached = self.ids[slot], self.signatures[slot]
            if entry_id is not None and cached is not None and veto(cached, sig) is None:
                return Candidate(entry_id, float(scores[slot]))
        return None


class SemanticIndex:
    """Scoped vector search: ``search`` returns the most similar entry of that scope that passes the veto."""

    def __init__(self, dimensions: int, *, capacity_per_scope: int = 100_000) -> None:
        self._dimensions = dimensions
        self._capacity = capacity_per_scope
        self._scopes: dict[str, _Scope] = {}

    def add(self, scope_key: str, entry_id: str, vector: Vector, sig: Signature) -> None:
        scope = self._scopes.get(scope_key)
        if scope is None:
            scope = self._scopes[scope_key] = _Scope(self._dimensions, self._capacity)
        scope.add(entry_id, np.asarray(vector, dtype=np.float32), sig)

    def add_many(self, scope_key: str, entry_ids: list[str], vectors: Vector, sigs: list[Signature]) -> None:
        for entry_id, vector, sig in zip(entry_ids, vectors, sigs, strict=True):
            self.add(scope_key, entry_id, vector, sig)

    def discard(self, scope_key: str, entry_id: str) -> None:
        """Forget an entry (its response expired or was evicted from the response store)."""
        scope = self._scopes.get(scope_key)
        if scope is not None:
            scope.discard(entry_id)

    def search(self, scope_key: str, query: Vector, sig: Signature, threshold: float, veto: Veto) -> Candidate | None:
        """The best entry of ``scope_key`` with similarity ≥ ``threshold`` that ``veto`` lets through.

        Only the ``TOP_CANDIDATES`` most similar entries are offered to the veto.
        """
        scope = self._scopes.get(scope_key)
        return None if scope is None else scope.search(query, sig, threshold, veto)

    def size(self, scope_key: str) -> int:
        scope = self._scopes.get(scope_key)
        return 0 if scope is None else sum(entry is not None for entry in scope.ids)

    def vector_bytes(self, scope_key: str) -> int:
        scope = self._scopes.get(scope_key)
        return 0 if scope is None else int(scope.vectors.nbytes)
