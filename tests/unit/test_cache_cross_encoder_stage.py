"""The matcher's second stage, with stand-ins for the two models: what the cross-encoder is asked, when,
and how its answer decides which candidate (if any) is served."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from gateway.cache.matcher import DEFAULT_THRESHOLD_WITH_CROSS_ENCODER, SemanticMatcher

DIMS = 8


def vector(angle: float) -> npt.NDArray[np.float32]:
    """A unit vector whose cosine with ``vector(0)`` is cos(angle)."""
    v = np.zeros(DIMS, dtype=np.float32)
    v[0], v[1] = np.cos(angle), np.sin(angle)
    return v


class Embedder:
    """Texts map to fixed vectors: similarity to the question is set per text."""

    def __init__(self, similarity: dict[str, float]) -> None:
        self._vectors = {text: vector(float(np.arccos(s))) for text, s in similarity.items()}

    @property
    def dimensions(self) -> int:
        return DIMS

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        return self._vectors[text]


class Scorer:
    """A cross-encoder stand-in that records its batches and answers a fixed probability per cached text."""

    def __init__(self, probability: dict[str, float]) -> None:
        self.probability = probability
        self.batches: list[tuple[list[str], str]] = []

    def scores(self, cached: Sequence[str], asked: str) -> npt.NDArray[np.float32]:
        self.batches.append((list(cached), asked))
        return np.asarray([self.probability[t] for t in cached], dtype=np.float32)


ASKED = "Is the pool open on Saturday?"
SIMILARITY = {
    ASKED: 1.0,
    "Is the pool open on Sunday?": 0.97,  # a trap the contrast guard vetoes before the cross-encoder
    "Can I swim in the pool on a Saturday?": 0.93,
    "Is the pool open on a Saturday?": 0.90,
    "What does the pool cost?": 0.60,  # below the threshold: never read
}


def matcher(scorer: Scorer | None) -> SemanticMatcher:
    m = SemanticMatcher(Embedder(SIMILARITY), cross_encoder=scorer)
    for n, text in enumerate(t for t in SIMILARITY if t != ASKED):
        m.remember("scope", f"e{n}", text)
    return m


def test_the_candidates_the_guards_pass_are_read_in_one_batch_and_the_most_similar_accepted_is_served() -> None:
    scorer = Scorer({"Can I swim in the pool on a Saturday?": 0.2, "Is the pool open on a Saturday?": 0.95})
    found = matcher(scorer).match("scope", ASKED)
    assert scorer.batches == [(["Can I swim in the pool on a Saturday?", "Is the pool open on a Saturday?"], ASKED)]
    assert found is not None and found[0] == "e2" and found[1] == pytest.approx(0.90, abs=1e-4)


def test_a_candidate_the_cross_encoder_refuses_is_not_served_though_similarity_alone_would_serve_it() -> None:
    refusing = Scorer({"Can I swim in the pool on a Saturday?": 0.1, "Is the pool open on a Saturday?": 0.4})
    assert matcher(refusing).match("scope", ASKED) is None
    similarity_only = SemanticMatcher(Embedder(SIMILARITY), guards=())
    similarity_only.remember("scope", "e1", "Can I swim in the pool on a Saturday?")
    assert similarity_only.match("scope", ASKED) is not None


def test_a_model_may_skip_the_cross_encoder_or_ask_it_for_more_certainty() -> None:
    scorer = Scorer({"Can I swim in the pool on a Saturday?": 0.8, "Is the pool open on a Saturday?": 0.6})
    m = matcher(scorer)
    # Skipped: similarity and all seven guards alone, at the threshold the model sets.
    assert m.match("scope", ASKED, 0.95, cross_encoder=False) is None and scorer.batches == []
    assert m.match("scope", ASKED, 0.85, cross_encoder=False) is not None and scorer.batches == []
    found = m.match("scope", ASKED, accept=0.7)
    assert found is not None and found[0] == "e1"
    assert m.match("scope", ASKED, accept=0.9) is None


def test_nothing_is_read_when_no_candidate_reaches_the_threshold_or_passes_the_guards() -> None:
    scorer = Scorer({})
    m = SemanticMatcher(Embedder(SIMILARITY), cross_encoder=scorer)
    m.remember("scope", "e0", "Is the pool open on Sunday?")
    m.remember("scope", "e1", "What does the pool cost?")
    assert m.match("scope", ASKED) is None and m.match("empty", ASKED) is None
    assert scorer.batches == [] and DEFAULT_THRESHOLD_WITH_CROSS_ENCODER > 0.60
