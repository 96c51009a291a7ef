"""The per-scope vector index: exact while small, a graph once large, and the same answers either way."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gateway.cache.semantic_index import SemanticIndex
from gateway.cache.vector_store import FlatStore, GraphStore

DIMS = 16


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
    return v / np.linalg.norm(v)


def near(seed: int, noise: float = 0.05) -> np.ndarray:
    v = unit(seed) + noise * np.random.default_rng(seed + 1000).standard_normal(DIMS).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def accept_all(text: str) -> bool:
    return True


@pytest.mark.parametrize("store_type", [FlatStore, GraphStore])
def test_a_store_returns_only_neighbours_above_the_threshold(store_type: type[FlatStore | GraphStore]) -> None:
    store = store_type(DIMS)
    keys = [store.add(unit(seed)) for seed in range(20)]
    found = store.nearest(near(3), 8, 0.9)
    assert [key for key, _ in found] == [keys[3]]
    assert found[0][1] == pytest.approx(float(unit(3) @ near(3)), abs=2e-3)
    store.remove(keys[3])
    assert store.nearest(near(3), 8, 0.9) == []


def test_the_flat_store_reuses_the_slot_of_a_removed_row() -> None:
    store = FlatStore(DIMS)
    first = store.add(unit(1))
    store.add(unit(2))
    store.remove(first)
    assert store.add(unit(3)) == first
    assert store.nearest(unit(1), 8, 0.99) == []


@pytest.mark.parametrize("graph_from", [1, 5, 1000])
def test_the_index_answers_the_same_before_and_after_growing_into_a_graph(graph_from: int) -> None:
    index = SemanticIndex(DIMS, graph_from=graph_from)
    for seed in range(30):
        index.add("scope", f"e{seed}", unit(seed), f"text {seed}")
    assert index.uses_graph("scope") == (graph_from <= 30)
    assert index.size("scope") == 30
    for seed in (0, 7, 29):
        found = index.search("scope", near(seed), 0.9, accept_all)
        assert found is not None and found.entry_id == f"e{seed}"


def test_the_guard_sees_the_stored_text_and_can_skip_to_the_next_candidate() -> None:
    index = SemanticIndex(DIMS)
    index.add("scope", "best", unit(1), "open on Saturday")
    index.add("scope", "second", near(1, 0.2), "open on Sunday")
    seen: list[str] = []

    def only_sunday(text: str) -> bool:
        seen.append(text)
        return "Sunday" in text

    found = index.search("scope", unit(1), 0.5, only_sunday)
    assert found is not None and found.entry_id == "second"
    assert seen == ["open on Saturday", "open on Sunday"]


def test_scopes_are_isolated_and_an_emptied_scope_is_dropped() -> None:
    index = SemanticIndex(DIMS)
    index.add("tenant-a", "e1", unit(1), "text")
    assert index.search("tenant-b", unit(1), 0.5, accept_all) is None
    index.discard("tenant-a", "e1")
    assert index.size("tenant-a") == 0 and index.search("tenant-a", unit(1), 0.5, accept_all) is None


@pytest.mark.parametrize("graph_from", [1, 1000])
def test_bulk_loading_evicts_the_oldest_past_capacity(graph_from: int) -> None:
    index = SemanticIndex(DIMS, capacity_per_scope=10, graph_from=graph_from)
    index.add_many("scope", [f"e{n}" for n in range(6)], np.stack([unit(n) for n in range(6)]), ["t"] * 6)
    index.add_many("scope", [f"e{n}" for n in range(6, 12)], np.stack([unit(n) for n in range(6, 12)]), ["t"] * 6)
    assert index.size("scope") == 10
    assert index.search("scope", unit(0), 0.99, accept_all) is None
    found = index.search("scope", unit(11), 0.99, accept_all)
    assert found is not None and found.entry_id == "e11"


def test_loading_the_index_before_the_embedder_does_not_crash_the_process() -> None:
    """usearch loaded before onnxruntime used to kill the interpreter with a segmentation fault."""
    code = "import gateway.cache.semantic_index, gateway.cache.embedder, onnxruntime; print('loaded')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr[-500:]
