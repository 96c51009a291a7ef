"""Canary rollouts: a weighted share of a model's traffic, withdrawn by itself when it does worse."""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import dataclass

from gateway.routing.config import Rollout

log = logging.getLogger("tollgate.rollout")


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    error_rate: float
    p99: float  # seconds


class Outcomes:
    """The last ``window`` outcomes of one deployment: whether each failed, and how long it took."""

    def __init__(self, window: int) -> None:
        self._recent: collections.deque[tuple[bool, float]] = collections.deque(maxlen=window)

    def add(self, ok: bool, seconds: float) -> None:
        self._recent.append((ok, seconds))

    def summary(self) -> Summary:
        count = len(self._recent)
        if count == 0:
            return Summary(0, 0.0, 0.0)
        failures = sum(1 for ok, _ in self._recent if not ok)
        times = sorted(seconds for ok, seconds in self._recent if ok)
        p99 = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] if times else 0.0
        return Summary(count, failures / count, p99)


def judge(canary: Summary, stable: Summary, rollout: Rollout) -> str | None:
    """Why the canary must be rolled back, or None while it does as well as the stable deployment."""
    if canary.requests < rollout.min_requests or stable.requests < rollout.min_requests:
        return None
    if canary.error_rate > stable.error_rate + rollout.error_margin:
        return f"error rate {canary.error_rate:.1%} against {stable.error_rate:.1%} on the stable deployment"
    if stable.p99 > 0 and canary.p99 > stable.p99 * (1 + rollout.latency_margin):
        return f"p99 latency {canary.p99 * 1000:.0f} ms against {stable.p99 * 1000:.0f} ms on the stable deployment"
    return None


class Canary:
    """The rollout of one model: the canary's share now, and both sides' recent outcomes."""

    def __init__(self, model: str, rollout: Rollout) -> None:
        self.model = model
        self.rollout = rollout
        self.share = rollout.share
        self.state = "active"  # then "rolled_back" or "promoted"
        self.reason: str | None = None
        self.canary = Outcomes(rollout.window)
        self.stable = Outcomes(rollout.window)

    def takes(self, draw: float) -> bool:
        return draw < self.share

    def record(self, *, on_canary: bool, ok: bool, seconds: float) -> bool:
        """Count one outcome; True when it made the canary roll back."""
        (self.canary if on_canary else self.stable).add(ok, seconds)
        # Judged on the canary's own outcomes only: the stable side's just move the baseline.
        if self.state != "active" or not on_canary:
            return False
        reason = judge(self.canary.summary(), self.stable.summary(), self.rollout)
        if reason is None:
            return False
        self.rollback(f"automatic: {reason}")
        return True

    def rollback(self, reason: str) -> None:
        self.share = 0.0
        self.state = "rolled_back"
        self.reason = reason
        log.warning("canary %s of model %s rolled back (%s)", self.rollout.backend, self.model, reason)

    def adopt(self, state: str, share: float, reason: str | None) -> None:
        """Take the verdict reached on another gateway (or before a restart)."""
        if (state, share) != (self.state, self.share):
            log.warning("canary %s of model %s: %s (%s)", self.rollout.backend, self.model, state, reason)
        self.state, self.share, self.reason = state, share, reason

    def promote(self) -> None:
        """The canary leads the model's chain for all traffic; the stable deployments become its fallbacks."""
        self.share = 1.0
        self.state = "promoted"
        self.reason = "promoted by an admin"
        log.warning("canary %s of model %s promoted", self.rollout.backend, self.model)
