"""tune.py's margin rule: among the points within one real should-hit pair (at least MARGIN) of the best,
the one with the highest accept is chosen; points further down keep their order after them."""

from __future__ import annotations

from tools.cross_encoder.tune import MARGIN, Point, with_margin


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
