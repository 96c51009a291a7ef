"""Least-outstanding-requests choice across a vLLM pool's replicas."""

from __future__ import annotations

from backends.vllm import least_outstanding


def test_picks_the_least_loaded_replica() -> None:
    assert least_outstanding([3, 1, 2], start=0) == 1


def test_ties_rotate_from_the_start_index() -> None:
    assert [least_outstanding([0, 0, 0], start=s) for s in range(4)] == [0, 1, 2, 0]
    assert least_outstanding([1, 0, 0], start=0) == 1
    assert least_outstanding([1, 0, 0], start=2) == 2
