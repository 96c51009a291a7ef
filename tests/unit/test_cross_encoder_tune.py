"""tune.py's margin rule: among the points within one real should-hit pair (at least MARGIN) of the best,
the one with the highest accept is chosen; points further down keep their order after them. And its
cross-validation: every pair is rated by the fold model that was not trained on it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tools.cross_encoder.generate import build
from tools.cross_encoder.split import fold
from tools.cross_encoder.tune import MARGIN, OUT_OF_FOLD, Point, out_of_fold, with_margin


def _point(hit: float, every: float, sim: float, accept: float | None, guards: int = 3) -> Point:
    return ((hit, every, sim, accept or 0.0, guards), "contrast,prefix,entity", sim, accept)


def test_a_point_one_pair_short_of_the_best_with_a_higher_accept_is_chosen() -> None:
    best = _point(0.70, 0.85, 0.65, 0.5)
    safer = _point(0.70 - 1 / 48, 0.83, 0.65, 0.9)
    too_far = _point(0.70 - 2 / 48, 0.80, 0.70, 0.98)
    ranked = [best, safer, too_far]
    assert with_margin(ranked, 48) == [safer, best, too_far]


def test_with_many_real_pairs_the_margin_is_two_points_not_one_pair() -> None:
    best = _point(0.65, 0.83, 0.65, 0.7)
    within = _point(0.65 - MARGIN + 0.001, 0.82, 0.65, 0.9)
    beyond = _point(0.65 - MARGIN - 0.01, 0.81, 0.70, 0.98)
    assert with_margin([best, within, beyond], 145) == [within, best, beyond]
    assert with_margin([], 48) == []


class _Reader:
    """Stands in for a fold's cross-encoder: remembers every pair it is asked to rate."""

    def __init__(self) -> None:
        self.read: list[tuple[str, str]] = []

    def scores(self, cached: Sequence[str], asked: str) -> npt.NDArray[np.float32]:
        self.read += [(text, asked) for text in cached]
        return np.full(len(cached), 0.5, dtype=np.float32)


class _Embedder:
    def embed_many(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


def test_each_fold_model_rates_only_pairs_it_was_not_trained_on() -> None:
    first, second = _Reader(), _Reader()
    parts = out_of_fold((first, second), _Embedder())  # type: ignore[arg-type]
    for reader, rated, trained_on in ((first, "fold 2", "fold 1"), (second, "fold 1", "fold 2")):
        trained = {frozenset((p["a"], p["b"])) for p in build(reworded=False, real=trained_on)}
        assert reader.read and not [pair for pair in reader.read if frozenset(pair) in trained]
        real = [s.item for s in parts[OUT_OF_FOLD] if (s.item["a"], s.item["b"]) in set(reader.read)]
        assert real and {fold(item["a"]) for item in real} == {rated}
    assert len(parts[OUT_OF_FOLD]) == len(first.read) + len(second.read) - len(parts["edits out of fold"]) - len(
        parts["generated sample"]
    )
