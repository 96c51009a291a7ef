"""The shipped cross-encoder (int8 ONNX, onnxruntime, one thread) in the real matcher with the real
all-MiniLM-L6-v2 embedder: it serves rewordings the guards alone refuse and refuses traps that
similarity alone serves."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.cross_encoder import MAX_TOKENS, CrossEncoder
from gateway.cache.embedder import Embedder
from gateway.cache.matcher import DEFAULT_THRESHOLD_WITH_CROSS_ENCODER, SemanticMatcher

# Genuine rewordings with a one-word synonym swap or an added word: the substitution guard vetoes them.
REWORDINGS = [
    ("How do I cancel my gym membership?", "What's the way to end my gym membership?"),
    ("How do I change the email address on my account?", "How can I update the email address on my account?"),
]
# Traps that differ in one word no guard but substitution sees: similarity at the cross-encoder's
# threshold serves them.
TRAPS = [
    ("Which wine goes with fish?", "Which wine goes with steak?"),
    ("Write a haiku about the sea", "Write a limerick about the sea"),
    ("How do I reset my password?", "How do I reset my colleague's password?"),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(threads=1)


@pytest.fixture(scope="module")
def encoder() -> CrossEncoder:
    return CrossEncoder(threads=1)  # both orders, as the gateway reads


@pytest.mark.parametrize(("stored", "asked"), REWORDINGS)
def test_a_rewording_the_guards_refuse_is_served(
    embedder: Embedder, encoder: CrossEncoder, stored: str, asked: str
) -> None:
    guards_only = SemanticMatcher(embedder)
    reading = SemanticMatcher(embedder, cross_encoder=encoder)
    for m in (guards_only, reading):
        m.remember("scope", "entry-1", stored)
    assert guards_only.match("scope", asked) is None
    found = reading.match("scope", asked)
    assert found is not None and found[0] == "entry-1"


@pytest.mark.parametrize(("stored", "asked"), TRAPS)
def test_a_trap_similarity_serves_is_refused(
    embedder: Embedder, encoder: CrossEncoder, stored: str, asked: str
) -> None:
    similarity_only = SemanticMatcher(embedder, DEFAULT_THRESHOLD_WITH_CROSS_ENCODER, guards=())
    reading = SemanticMatcher(embedder, cross_encoder=encoder)
    for m in (similarity_only, reading):
        m.remember("scope", "entry-1", stored)
    assert similarity_only.match("scope", asked) is not None
    assert reading.match("scope", asked) is None
    assert encoder.scores([stored], asked)[0] < 0.5


def test_a_batch_scores_each_pair_as_alone_and_long_questions_are_cut(encoder: CrossEncoder) -> None:
    asked = "Is the library open on Sunday?"
    cached = ["Is the library open on Saturday?", "Can I visit the library on a Sunday?", "word " * 500]
    together = encoder.scores(cached, asked)
    alone = np.concatenate([encoder.scores([c], asked) for c in cached])
    assert together.dtype == np.float32 and together.shape == (3,)
    # int8 activations are quantized per batch, so padding moves a probability by a little.
    assert np.allclose(together, alone, atol=0.05)
    assert together[1] > 0.5 > together[0]
    assert encoder.scores([], asked).shape == (0,) and MAX_TOKENS == 64


def test_symmetric_reading_scores_a_pair_the_same_whichever_question_was_cached(encoder: CrossEncoder) -> None:
    symmetric, one_way_encoder = encoder, CrossEncoder(threads=1, symmetric=False)
    pairs = [
        ("What repairs is my landlord responsible for?", "Which repairs does the landlord have to do?"),
        ("Is the library open on Saturday?", "Is the library open on Sunday?"),
        ("How do I cancel my gym membership?", "What's the way to end my gym membership?"),
    ]
    for a, b in pairs:
        forward, backward = symmetric.scores([a], b)[0], symmetric.scores([b], a)[0]
        assert abs(forward - backward) < 0.02  # one batch each way; int8 activations move it by a little
        # The average of the two orders' logits, each read alone.
        one_way = np.concatenate([one_way_encoder.scores([a], b), one_way_encoder.scores([b], a)]).astype(np.float64)
        expected = 1 / (1 + np.exp(-np.log(one_way / (1 - one_way)).mean()))
        assert abs(forward - expected) < 0.05
    many = symmetric.scores([a for a, _ in pairs], "Is the library open on Sunday?")
    assert many.shape == (3,) and many[1] < 0.5
