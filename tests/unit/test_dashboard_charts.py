"""Chart geometry and the ranges the pages offer."""

from __future__ import annotations

import datetime as dt

from gateway.dashboard.charts import Chart, Series, nice_ceiling, plot
from gateway.dashboard.periods import periods


def test_the_y_axis_ends_at_a_round_number_above_the_largest_value() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 1.2, 3.7, 7, 420)] == [1, 0.5, 1, 2, 5, 10, 500]


def test_a_missing_value_breaks_the_line_and_bars_scale_with_their_value() -> None:
    line = Chart("c", "t", "ms", ["a", "b", "c", "d"], [Series("p50", [1.0, None, 3.0, 4.0], ["1", "–", "3", "4"])])
    bars = Chart("b", "t", "USD", ["x", "y"], [Series("cost", [1.0, 2.0], ["1", "2"])], kind="bar")

    assert [len(points.split()) for points in plot(line).lines[0].points] == [1, 2]
    tall, short = plot(bars).bars[1], plot(bars).bars[0]
    assert tall.height == 2 * short.height
    assert tall.y + tall.height == short.y + short.height  # both stand on the x axis


def test_ranges_end_with_the_current_period_and_unknown_ones_mean_seven_days() -> None:
    now = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)

    hours = periods("24h", now)
    assert len(hours.starts) == 24
    assert hours.starts[-1] == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert hours.span.end == dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC)

    days = periods("forever", now)
    assert days.name == "7d"
    assert days.starts[0] == dt.datetime(2026, 2, 23, tzinfo=dt.UTC)
    assert days.labels()[-1] == "2026-03-01"
