"""Staged rollouts: a candidate deployment takes a rising share of a model's traffic while it does
as well as the stable one, and loses it by itself when it does worse.

This module is the part each gateway holds: the share it routes by now (:class:`Canary`), the
outcomes it has seen and not yet added to the shared tallies, and the verdict (:func:`verdict`),
a pure function of the tallies every gateway added. One gateway at a time applies a verdict to the
shared state (gateway/routing/rollouts.py); the others follow it.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from dataclasses import dataclass

from gateway.config.routing import Rollout
from gateway.routing.tallies import FAILED, Counts, Summary, bucket_of, summarise

log = logging.getLogger("tollgate.rollout")

CANDIDATE, STABLE = "candidate", "stable"


class Outcomes:
    """The last ``window`` outcomes of one side seen by this gateway (``GET /admin/routing``)."""

    def __init__(self, window: int) -> None:
        self._recent: collections.deque[int] = collections.deque(maxlen=window)

    def add(self, bucket: int) -> None:
        self._recent.append(bucket)

    def summary(self) -> Summary:
        return summarise(collections.Counter(self._recent))


@dataclass(frozen=True, slots=True)
class Scores:
    """The accuracy feedback of one side: how many scores, and their mean (0-1)."""

    count: int = 0
    mean: float = 0.0


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one stage of a rollout is judged on, summed over every gateway."""

    candidate: Summary
    stable: Summary
    candidate_scores: Scores
    stable_scores: Scores
    stage_seconds: float  # how long the current stage has run


@dataclass(frozen=True, slots=True)
class Move:
    """A transition the judge decided: to ``state`` at ``stage`` with ``share`` of the traffic."""

    action: str  # advanced, promoted, rolled_back
    state: str
    stage: int
    share: float
    reason: str


def worse(rollout: Rollout, evidence: Evidence) -> str | None:
    """Why the candidate does worse than the stable deployments, or None while it does as well."""
    ours, theirs = evidence.candidate, evidence.stable
    if ours.requests >= rollout.min_requests and theirs.requests >= rollout.min_requests:
        if ours.error_rate > theirs.error_rate + rollout.error_margin:
            return f"error rate {ours.error_rate:.1%} against {theirs.error_rate:.1%} on the stable deployment"
        if theirs.p99 > 0 and ours.p99 > theirs.p99 * (1 + rollout.latency_margin):
            return f"p99 latency {ours.p99 * 1000:.0f} ms against {theirs.p99 * 1000:.0f} ms on the stable deployment"
    scored, baseline = evidence.candidate_scores, evidence.stable_scores
    enough = min(scored.count, baseline.count) >= rollout.min_feedback
    if enough and scored.mean < baseline.mean - rollout.accuracy_margin:
        return f"mean accuracy score {scored.mean:.3f} against {baseline.mean:.3f} on the stable deployment"
    return None


def verdict(rollout: Rollout, stage: int, evidence: Evidence) -> Move | None:
    """The transition an active rollout at ``stage`` is due, or None while it holds.

    Worse on any measure rolls back at once; the next stage waits until this one has run
    ``stage_minutes`` with ``min_requests`` on each side. A fixed canary (no ``stages``) never
    moves up by itself."""
    reason = worse(rollout, evidence)
    if reason is not None:
        return Move("rolled_back", "rolled_back", stage, 0.0, f"automatic: {reason}")
    shares = rollout.shares()
    if stage + 1 >= len(shares) or evidence.stage_seconds < rollout.stage_minutes * 60:
        return None
    if min(evidence.candidate.requests, evidence.stable.requests) < rollout.min_requests:
        return None
    held = f"held {shares[stage]:.0%} for {evidence.stage_seconds / 60:.1f} min, no worse than stable"
    nxt = shares[stage + 1]
    if nxt >= 1.0:
        return Move("promoted", "promoted", stage + 1, 1.0, f"automatic: {held}")
    return Move("advanced", "active", stage + 1, nxt, f"automatic: {held}")


class Canary:
    """A model's rollout as this gateway routes it: the state it last read of the shared verdict,
    and the outcomes it saw since it last added them to the shared tallies."""

    def __init__(self, model: str, rollout: Rollout) -> None:
        self.model = model
        self.rollout = rollout
        self.stage = 0
        self.share = rollout.shares()[0]
        self.state = "active"  # then "promoted" or "rolled_back"
        self.reason: str | None = None
        self.version = 0  # of the shared state this gateway follows; 0 before it has read it
        # When this gateway took this rollout config up: of two configs, the one taken up last is judged.
        self.taken_up = dt.datetime.now(dt.UTC)
        self.canary = Outcomes(rollout.window)
        self.stable = Outcomes(rollout.window)
        self._unshared: dict[str, Counts] = {CANDIDATE: collections.Counter(), STABLE: collections.Counter()}

    def takes(self, draw: float) -> bool:
        return draw < self.share

    def record(self, *, on_canary: bool, ok: bool, seconds: float) -> None:
        """Count one outcome; the shared judge weighs it with every other gateway's."""
        bucket = bucket_of(seconds) if ok else FAILED
        (self.canary if on_canary else self.stable).add(bucket)
        self._unshared[CANDIDATE if on_canary else STABLE][bucket] += 1

    def take_unshared(self) -> dict[str, Counts]:
        """The outcomes not yet added to the shared tallies, handed over once."""
        taken = self._unshared
        self._unshared = {CANDIDATE: collections.Counter(), STABLE: collections.Counter()}
        return taken

    def give_back(self, counts: dict[str, Counts]) -> None:
        """Outcomes that could not be shared: tried again with the next ones."""
        for side, counted in counts.items():
            self._unshared[side].update(counted)

    def adopt(self, state: str, share: float, reason: str | None, *, version: int, stage: int) -> None:
        """Follow the shared state (decided here, on another gateway, or before a restart)."""
        if (state, stage) != (self.state, self.stage) and self.version != 0:
            log.warning(
                "rollout %s of model %s: %s at %.0f%% (%s)",
                self.rollout.backend,
                self.model,
                state,
                share * 100,
                reason,
            )
        self.state, self.stage, self.share, self.reason, self.version = state, stage, share, reason, version
