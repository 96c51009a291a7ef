"""Charts as data, and the geometry of their server-rendered SVG.

A chart is labels along the x axis and one or more series of values; the template draws the SVG
from ``plot(chart)`` and prints the same values in a table under it, which is what screen readers
and tests read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
MAX_X_LABELS = 8


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: list[float | None]
    cells: list[str]  # the values as the table shows them


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    unit: str  # what the y axis counts: "USD", "%", "ms", "requests"
    labels: list[str]
    series: list[Series]
    kind: Literal["line", "bar"] = "line"


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Line:
    points: list[str]  # each a polyline's "x,y x,y ..."; a missing value breaks the line
    color: str
    name: str


@dataclass(frozen=True, slots=True)
class Plot:
    width: int
    height: int
    left: int
    bottom: float
    right: int
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    lines: list[Line]
    bars: list[Bar]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(float(step * power) for step in (1, 2, 5, 10) if step * power >= value)


def tick_text(value: float) -> str:
    return f"{value:,.0f}" if value == round(value) else f"{value:.4g}"


def plot(chart: Chart) -> Plot:
    top_value = nice_ceiling(max((v for s in chart.series for v in s.values if v is not None), default=0.0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(1, len(chart.labels))
    slot = inner_w / count

    def y(value: float) -> float:
        return TOP + inner_h * (1 - value / top_value)

    def x(index: int) -> float:
        return LEFT + slot * (index + 0.5)

    y_ticks = [Tick(y(top_value * i / 4), tick_text(top_value * i / 4)) for i in range(5)]
    every = math.ceil(count / MAX_X_LABELS)
    x_ticks = [Tick(x(i), label) for i, label in enumerate(chart.labels) if i % every == 0]
    lines, bars = [], []
    for n, series in enumerate(chart.series):
        color = COLORS[n % len(COLORS)]
        if chart.kind == "line":
            lines.append(Line(_segments(series.values, x, y), color, series.name))
            continue
        width = slot * 0.8 / len(chart.series)
        for i, value in enumerate(series.values):
            if value is not None:
                left = x(i) - slot * 0.4 + n * width
                title = f"{series.name} {chart.labels[i]}: {series.cells[i]}"
                bars.append(Bar(left, y(value), width, y(0) - y(value), color, title))
    return Plot(WIDTH, HEIGHT, LEFT, TOP + inner_h, WIDTH - RIGHT, y_ticks, x_ticks, lines, bars)


def _segments(values: list[float | None], x: Callable[[int], float], y: Callable[[float], float]) -> list[str]:
    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(i):.1f},{y(value):.1f}")
    return [" ".join(points) for points in segments if points]
