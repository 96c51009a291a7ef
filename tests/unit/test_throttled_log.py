"""A warning repeated while a dependency stays down is logged once per interval, with the count held back."""

from __future__ import annotations

import logging

import pytest

from gateway.core.throttled_log import ThrottledLog


def test_repeats_are_held_back_and_counted_and_a_recovery_logs_the_next_outage_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    throttled = ThrottledLog(logging.getLogger("tollgate.test"), every=30, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "tollgate.test"):
        for _ in range(60):  # twice a second for 30 s
            throttled.warning("Redis lost (%s)", "refused")
            now[0] += 0.5
        throttled.warning("Redis lost (%s)", "refused")
        throttled.recovered("Redis answers again")
        throttled.warning("Redis lost (%s)", "timeout")
    assert [r.getMessage() for r in caplog.records] == [
        "Redis lost (refused)",
        "Redis lost (refused) (59 more like it not logged in the last 30 s)",
        "Redis answers again",
        "Redis lost (timeout)",
    ]
