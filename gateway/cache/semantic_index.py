"""An in-memory vector index per cache scope: exact search while a scope is small, HNSW once it is large.

A scope starts as a :class:`FlatStore` (exact, float32) and moves to a :class:`GraphStore` (usearch
HNSW, float16) when it reaches ``graph_from`` entries, so the common small scopes (one per tenant,
model, parameters and conversation history) stay exact and compact, and a lookup in a 100,000-entry
scope reads a few hundred vectors instead of all. Each entry keeps its last user turn's text, from
which the caller's guards are computed only for the few candidates above the threshold. A scope never
grows past ``capacity``: the oldest entry goes first. Scopes are isolated: a search reads one scope.
Measured latency and memory: docs/semantic-cache-bench.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.cache.vector_store import FlatStore, GraphStore

Vector = npt.NDArray[np.float32]
Accept = Callable[[str], bool]

TOP_CANDIDATES = 8
GRAPH_FROM = 10_000


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    similarity: float


@dataclass(slots=True)
class _Scope:
    dimensions: int
    capacity: int
    graph_from: int
    store: FlatStore | GraphStore = field(init=False)
    keys: dict[str, int] = field(default_factory=dict)  # entry id -> store key, oldest first
    entries: dict[int, tuple[str, str]] = field(default_factory=dict)  # store key -> (entry id, text)

    def __post_init__(self) -> None:
        self.store = FlatStore(self.dimensions)

    def add(self, entry_id: str, vector: Vector, text: str) -> None:
        self.discard(entry_id)
        while len(self.keys) >= self.capacity:
            self.discard(next(iter(self.keys)))
        if isinstance(self.store, FlatStore) and len(self.keys) >= self.graph_from:
            self._to_graph()
        self._record(entry_id, self.store.add(vector), text)

    def add_batch(self, entry_ids: Sequence[str], vectors: Vector, texts: Sequence[str], threads: int) -> None:
        """Adds new entries at once; the graph (if the scope has or needs one) is built on ``threads``."""
        if isinstance(self.store, FlatStore) and len(self.keys) + len(entry_ids) >= self.graph_from:
            self._to_graph()
        if not isinstance(self.store, GraphStore):
            for entry_id, vector, text in zip(entry_ids, vectors, texts, strict=True):
                self.add(entry_id, vector, text)
            return
        for key, entry_id, text in zip(self.store.add_many(vectors, threads), entry_ids, texts, strict=True):
            self._record(entry_id, key, text)

    def _record(self, entry_id: str, key: int, text: str) -> None:
        self.keys[entry_id] = key
        self.entries[key] = (entry_id, text)

    def _to_graph(self) -> None:
        flat, graph = self.store, GraphStore(self.dimensions)
        if not isinstance(flat, FlatStore):
            return
        old = list(self.entries.items())
        self.keys.clear()
        self.entries.clear()
        self.store = graph
        if old:
            vectors = np.stack([flat.vector(key) for key, _ in old])
            for key, (entry_id, text) in zip(graph.add_many(vectors), (entry for _, entry in old), strict=True):
                self._record(entry_id, key, text)

    def discard(self, entry_id: str) -> None:
        key = self.keys.pop(entry_id, None)
        if key is not None:
            del self.entries[key]
            self.store.remove(key)

    def search(self, query: Vector, threshold: float, accept: Accept) -> Candidate | None:
        found = self.store.nearest(query, TOP_CANDIDATES, threshold)
        for key, similarity in sorted(found, key=lambda pair: -pair[1]):
            entry = self.entries.get(key)
            if entry is not None and accept(entry[1]):
                return Candidate(entry[0], similarity)
        return None

    def above(self, query: Vector, threshold: float) -> list[tuple[Candidate, str]]:
        found = self.store.nearest(query, TOP_CANDIDATES, threshold)
        ranked = sorted(found, key=lambda pair: -pair[1])
        return [(Candidate(e[0], sim), e[1]) for key, sim in ranked if (e := self.entries.get(key)) is not None]


class SemanticIndex:
    """Scoped vector search: ``search`` returns the most similar entry of a scope that ``accept`` takes."""

    def __init__(self, dimensions: int, *, capacity_per_scope: int = 100_000, graph_from: int = GRAPH_FROM) -> None:
        self._dimensions = dimensions
        self._capacity = capacity_per_scope
        self._graph_from = graph_from
        self._scopes: dict[str, _Scope] = {}

    def _scope(self, scope_key: str) -> _Scope:
        scope = self._scopes.get(scope_key)
        if scope is None:
            scope = self._scopes[scope_key] = _Scope(self._dimensions, self._capacity, self._graph_from)
        return scope

    def add(self, scope_key: str, entry_id: str, vector: Vector, text: str) -> None:
        """Stores ``entry_id`` (replacing an entry of the same id) with its vector and last user turn."""
        self._scope(scope_key).add(entry_id, np.asarray(vector, dtype=np.float32), text)

    def add_many(
        self, scope_key: str, entry_ids: Sequence[str], vectors: Vector, texts: Sequence[str], *, threads: int = 1
    ) -> None:
        """Stores many new entries at once (bulk loading: a replica's warm start, the benchmark)."""
        scope = self._scope(scope_key)
        if len(scope.keys) + len(entry_ids) > self._capacity or any(e in scope.keys for e in entry_ids):
            for entry_id, vector, text in zip(entry_ids, vectors, texts, strict=True):
                scope.add(entry_id, vector, text)
            return
        scope.add_batch(entry_ids, np.asarray(vectors, dtype=np.float32), texts, threads)

    def text_of(self, scope_key: str, entry_id: str) -> str | None:
        """The last user turn ``entry_id`` was stored with, if the scope still holds it."""
        scope = self._scopes.get(scope_key)
        key = scope.keys.get(entry_id) if scope is not None else None
        entry = scope.entries.get(key) if scope is not None and key is not None else None
        return None if entry is None else entry[1]

    def discard(self, scope_key: str, entry_id: str) -> None:
        """Forget an entry (its response expired or was evicted from the response store)."""
        scope = self._scopes.get(scope_key)
        if scope is not None:
            scope.discard(entry_id)
            if not scope.keys:
                del self._scopes[scope_key]

    def search(self, scope_key: str, query: Vector, threshold: float, accept: Accept) -> Candidate | None:
        """The best entry of ``scope_key`` with similarity ≥ ``threshold`` whose text ``accept`` takes.

        Only the ``TOP_CANDIDATES`` most similar entries are offered to ``accept``.
        """
        scope = self._scopes.get(scope_key)
        return None if scope is None else scope.search(query, threshold, accept)

    def above(self, scope_key: str, query: Vector, threshold: float) -> list[tuple[Candidate, str]]:
        """The ``TOP_CANDIDATES`` most similar entries of ``scope_key`` with similarity ≥ ``threshold``,
        best first, each with its stored text (for a caller that judges them all at once)."""
        scope = self._scopes.get(scope_key)
        return [] if scope is None else scope.above(query, threshold)

    def size(self, scope_key: str) -> int:
        scope = self._scopes.get(scope_key)
        return 0 if scope is None else len(scope.keys)

    def uses_graph(self, scope_key: str) -> bool:
        scope = self._scopes.get(scope_key)
        return scope is not None and isinstance(scope.store, GraphStore)
