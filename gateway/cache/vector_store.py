"""Vector stores for one cache scope: exact search while small, an HNSW graph once large.

``FlatStore`` keeps float32 rows and scores every row (exact; cheap below a few thousand rows).
``GraphStore`` keeps float16 vectors in a usearch HNSW graph: a lookup reads a few hundred vectors
instead of all of them (6x faster than the exact search at 100,000 entries in the bench), at half the
bytes per vector. Both return inner products of unit vectors, i.e. cosine similarities; the graph's are
computed on float16 copies and it may miss a neighbour the exact search finds. The measured cost of
both is in docs/semantic-cache-bench.md.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# onnxruntime must be loaded before usearch: the other order crashes the interpreter while loading
# onnxruntime (seen with onnxruntime 1.32 and usearch 2.26, both pybind11 extensions). The embedder
# needs onnxruntime anyway; importing it here makes the order hold whoever imports first.
import onnxruntime  # noqa: F401
from usearch.index import Index

Vector = npt.NDArray[np.float32]

_INITIAL_ROWS = 4
# HNSW build and search breadth: usearch's default graph degree (16); a search explores 128
# candidates (64 found 115 of 122 planted hits among 100,000 random vectors, 128 found 117; see the bench).
_CONNECTIVITY = 16
_EXPANSION_ADD = 64
_EXPANSION_SEARCH = 128


class FlatStore:
    """Exact search over a float32 matrix; a removed row is zeroed and its slot reused."""

    def __init__(self, dimensions: int) -> None:
        self._vectors: Vector = np.zeros((_INITIAL_ROWS, dimensions), dtype=np.float32)
        self._used = 0
        self._free: list[int] = []

    def add(self, vector: Vector) -> int:
        if self._free:
            key = self._free.pop()
        else:
            key = self._used
            if key == self._vectors.shape[0]:
                self._vectors = np.concatenate([self._vectors, np.zeros_like(self._vectors)])
            self._used += 1
        self._vectors[key] = vector
        return key

    def remove(self, key: int) -> None:
        self._vectors[key] = 0.0
        self._free.append(key)

    def vector(self, key: int) -> Vector:
        row: Vector = self._vectors[key]
        return row

    def nearest(self, query: Vector, count: int, threshold: float) -> list[tuple[int, float]]:
        """Up to ``count`` (key, similarity) with similarity ≥ ``threshold``, any order."""
        scores = self._vectors[: self._used] @ query
        above = np.flatnonzero(scores >= threshold)
        if above.size > count:
            above = above[np.argpartition(scores[above], -count)[-count:]]
        return [(int(key), float(scores[key])) for key in above]

    @property
    def nbytes(self) -> int:
        return int(self._vectors.nbytes)


class GraphStore:
    """Approximate search over float16 vectors in an HNSW graph (usearch); keys are never reused."""

    def __init__(self, dimensions: int) -> None:
        self._index = Index(
            ndim=dimensions,
            metric="ip",
            dtype="f16",
            connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD,
            expansion_search=_EXPANSION_SEARCH,
        )
        self._next_key = 0

    def add(self, vector: Vector) -> int:
        key = self._next_key
        self._index.add(key, vector, threads=1)
        self._next_key += 1
        return key

    def add_many(self, vectors: Vector, threads: int = 1) -> list[int]:
        """Adds rows in one batch (the graph is built on ``threads`` threads); returns their keys."""
        keys = np.arange(self._next_key, self._next_key + len(vectors), dtype=np.uint64)
        self._index.add(keys, vectors, threads=threads)
        self._next_key += len(vectors)
        return [int(k) for k in keys]

    def remove(self, key: int) -> None:
        self._index.remove(key)

    def nearest(self, query: Vector, count: int, threshold: float) -> list[tuple[int, float]]:
        found = self._index.search(query, count, threads=1)
        similarities = 1.0 - np.asarray(found.distances, dtype=np.float64)
        return [
            (int(key), float(sim))
            for key, sim in zip(np.asarray(found.keys).tolist(), similarities.tolist(), strict=True)
            if sim >= threshold
        ]

    @property
    def nbytes(self) -> int:
        return int(self._index.memory_usage)
