"""The garbage collector's serving settings: set once the app is built, undone when it stops."""

from __future__ import annotations

import gc

from gateway.core import collector


def test_serving_freezes_what_startup_built_raises_the_first_threshold_and_restore_undoes_it() -> None:
    before = gc.get_threshold()
    thresholds = collector.settle_for_serving()
    try:
        assert thresholds == before
        assert gc.get_threshold() == collector.SERVING_THRESHOLDS
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_freeze_count() > 0  # out of every pass's sight
    finally:
        collector.restore(thresholds)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_cycles_made_while_serving_are_still_collected() -> None:
    thresholds = collector.settle_for_serving()
    try:
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        collector.restore(thresholds)
