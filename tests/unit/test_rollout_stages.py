"""The staged rollout's verdict: a pure function of everyone's tallies and the accuracy feedback."""

from __future__ import annotations

import collections

import msgspec
import pytest

from gateway.config.routing import Rollout
from gateway.routing.rollout import Canary, Evidence, Scores, verdict
from gateway.routing.tallies import FAILED, bucket_of, summarise, upper_bound

STAGED = Rollout(backend="cand", model="m", stages=[1, 5, 25, 100], stage_minutes=10, min_requests=20, min_feedback=5)


def side(requests: int, failures: int = 0, seconds: float = 0.1) -> collections.Counter[int]:
    return collections.Counter({bucket_of(seconds): requests - failures, FAILED: failures})


def evidence(
    candidate: collections.Counter[int] | None = None,
    stable: collections.Counter[int] | None = None,
    scores: tuple[Scores, Scores] = (Scores(), Scores()),
    minutes: float = 11,
) -> Evidence:
    return Evidence(
        summarise(candidate if candidate is not None else side(50)),
        summarise(stable if stable is not None else side(500)),
        scores[0],
        scores[1],
        minutes * 60,
    )


def test_a_healthy_candidate_moves_up_one_stage_after_its_window() -> None:
    move = verdict(STAGED, 0, evidence())
    assert move is not None and (move.action, move.state, move.stage, move.share) == ("advanced", "active", 1, 0.05)
    move = verdict(STAGED, 2, evidence())
    assert move is not None and (move.action, move.state, move.stage, move.share) == ("promoted", "promoted", 3, 1.0)


@pytest.mark.parametrize(
    "early", [evidence(minutes=9), evidence(candidate=side(19)), evidence(stable=side(19))], ids=["time", "few", "base"]
)
def test_a_stage_holds_until_its_minutes_and_requests_are_reached(early: Evidence) -> None:
    assert verdict(STAGED, 0, early) is None


def test_more_errors_roll_back_at_once_with_the_reason() -> None:
    move = verdict(STAGED, 1, evidence(candidate=side(40, failures=10), minutes=1))
    assert move is not None and (move.state, move.share) == ("rolled_back", 0.0)
    assert move.reason.startswith("automatic: error rate 25.0% against 0.0%")


def test_a_slower_p99_rolls_back() -> None:
    move = verdict(STAGED, 0, evidence(candidate=side(40, seconds=0.5), stable=side(400, seconds=0.1)))
    assert move is not None and "p99 latency" in move.reason


def test_a_lower_mean_score_rolls_back_once_both_sides_have_enough_feedback() -> None:
    worse = (Scores(5, 0.6), Scores(30, 0.9))
    move = verdict(STAGED, 1, evidence(scores=worse, minutes=0))
    assert (
        move is not None
        and move.reason == "automatic: mean accuracy score 0.600 against 0.900 on the stable deployment"
    )
    assert verdict(STAGED, 1, evidence(scores=(Scores(4, 0.1), Scores(30, 0.9)), minutes=0)) is None
    assert verdict(STAGED, 1, evidence(scores=(Scores(9, 0.86), Scores(30, 0.9)), minutes=0)) is None  # within margin


def test_a_fixed_canary_never_moves_up_by_itself_but_still_rolls_back() -> None:
    fixed = Rollout(backend="cand", model="m", share=0.1, min_requests=5)
    assert fixed.shares() == (0.1,)
    assert verdict(fixed, 0, evidence(minutes=1000)) is None
    assert verdict(fixed, 0, evidence(candidate=side(10, failures=5))) is not None


def test_stages_must_rise() -> None:
    with pytest.raises(msgspec.ValidationError, match="rising"):
        msgspec.convert({"backend": "c", "model": "m", "stages": [5, 1, 100]}, Rollout)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"backend": "c", "model": "m", "stages": [0, 100]}, Rollout)


def test_summed_buckets_give_the_p99_within_a_bucket() -> None:
    counts = collections.Counter({bucket_of(0.010): 990, bucket_of(0.800): 10, FAILED: 25})
    summary = summarise(counts)
    assert summary.requests == 1025 and summary.error_rate == pytest.approx(25 / 1025)
    assert 0.010 <= summary.p99 <= 0.011  # the 990th of 1000 successes is a 10 ms one
    assert upper_bound(bucket_of(0.8)) / 1.1 < 0.8 <= upper_bound(bucket_of(0.8))


def test_a_gateway_hands_its_counts_over_once_and_takes_back_what_was_not_shared() -> None:
    canary = Canary("m", STAGED)
    canary.record(on_canary=True, ok=True, seconds=0.05)
    canary.record(on_canary=False, ok=False, seconds=0.05)
    taken = canary.take_unshared()
    assert taken["candidate"] == {bucket_of(0.05): 1} and taken["stable"] == {FAILED: 1}
    assert canary.take_unshared() == {"candidate": {}, "stable": {}}
    canary.give_back(taken)
    assert canary.take_unshared() == taken
    assert canary.takes(0.009) and not canary.takes(0.011)  # 1 % first
