"""The semantic matcher with the real all-MiniLM-L6-v2 model: hits on rewordings, never on traps or across scopes."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.embedder import Embedder
from gateway.cache.matcher import SemanticMatcher
from gateway.cache.semantic_index import GRAPH_FROM


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(threads=1)


@pytest.fixture(params=["exact", "graph"])
def matcher(embedder: Embedder, request: pytest.FixtureRequest) -> SemanticMatcher:
    """Every behaviour holds for small scopes (exact search) and for large ones (HNSW graph)."""
    return SemanticMatcher(embedder, graph_from=1 if request.param == "graph" else GRAPH_FROM)


def test_vectors_are_unit_length_float32(embedder: Embedder) -> None:
    vectors = embedder.embed_many(["hello", "a much longer sentence about cache scopes " * 80])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed("hello"), vectors[0], atol=1e-5)


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("How do I reset my password?", "how do i reset my password"),
        ("What is the fastest way to learn touch typing?", "What's the fastest way to learn touch typing?"),
        ("How do I undo my last git commit?", "How can I undo the last commit in git?"),
    ],
)
def test_a_rewording_is_answered_from_the_cache(matcher: SemanticMatcher, stored: str, asked: str) -> None:
    matcher.remember("scope", "entry-1", stored)
    found = matcher.match("scope", asked)
    assert found is not None and found[0] == "entry-1"


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("Which plans include international calls?", "Which plans don't include international calls?"),
        (
            "How many days of annual leave do I get after 1 year?",
            "How many days of annual leave do I get after 5 years?",
        ),
        ("What's the capital of Australia?", "What's the capital of Austria?"),
        ("Which terminal does BA fly from at Heathrow?", "Which terminal does Virgin fly from at Heathrow?"),
    ],
)
def test_a_trap_is_not_answered_from_the_cache(matcher: SemanticMatcher, stored: str, asked: str) -> None:
    matcher.remember("scope", "entry-1", stored)
    assert matcher.match("scope", asked) is None


def test_the_trap_would_hit_without_guards(embedder: Embedder) -> None:
    unguarded = SemanticMatcher(embedder, guards=())
    unguarded.remember("scope", "entry-1", "Which plans include international calls?")
    assert unguarded.match("scope", "Which plans don't include international calls?") is not None


def test_different_scope_keys_never_hit(matcher: SemanticMatcher) -> None:
    matcher.remember("tenant-a|model|params|history-1", "entry-a", "How do I reset my password?")
    assert matcher.match("tenant-b|model|params|history-1", "How do I reset my password?") is None
    assert matcher.match("tenant-a|model|params|history-2", "How do I reset my password?") is None
    assert matcher.match("tenant-a|model|params|history-1", "How do I reset my password?") is not None


def test_the_best_candidate_wins_and_forgotten_entries_do_not(matcher: SemanticMatcher) -> None:
    matcher.remember("scope", "close", "How do I reset my password?")
    matcher.remember("scope", "far", "How do I bake sourdough bread?")
    found = matcher.match("scope", "How can I reset my password?")
    assert found is not None and found[0] == "close"
    matcher.forget("scope", "close")
    assert matcher.match("scope", "How can I reset my password?") is None


@pytest.mark.parametrize("graph_from", [1, GRAPH_FROM])
def test_a_full_scope_drops_its_oldest_entry(embedder: Embedder, graph_from: int) -> None:
    small = SemanticMatcher(embedder, capacity_per_scope=2, graph_from=graph_from)
    for n, text in enumerate(["How do I reset my password?", "Where is my invoice?", "How do I delete my account?"]):
        small.remember("scope", f"e{n}", text)
    assert small.match("scope", "How do I reset my password?") is None
    assert small.match("scope", "How do I delete my account?") == ("e2", pytest.approx(1.0, abs=1e-4))


def test_a_scope_that_grows_into_a_graph_keeps_its_entries(embedder: Embedder) -> None:
    matcher = SemanticMatcher(embedder, graph_from=3)
    stored = ["How do I reset my password?", "Where is my invoice?", "How do I delete my account?", "Is there an API?"]
    for n, text in enumerate(stored):
        matcher.remember("scope", f"e{n}", text)
    assert matcher.index.uses_graph("scope") and matcher.index.size("scope") == 4
    found = matcher.match("scope", "How can I reset my password?")
    assert found is not None and found[0] == "e0"
    assert matcher.match("scope", "Where can I find my invoice?") is not None
    assert matcher.match("scope", "How do I delete my account twice?") is None  # the guards still apply


def test_remembering_an_entry_again_replaces_it(matcher: SemanticMatcher) -> None:
    matcher.remember("scope", "entry-1", "How do I reset my password?")
    matcher.remember("scope", "entry-1", "How do I bake sourdough bread?")
    assert matcher.index.size("scope") == 1
    assert matcher.match("scope", "How do I reset my password?") is None
    assert matcher.match("scope", "How do I bake sourdough bread?") is not None
