"""The time ranges a dashboard page can show, and the periods (hours or days) each is cut into."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.dashboard.repository import Span, Step

# name -> (how many periods, of what)
RANGES: dict[str, tuple[int, Step]] = {"24h": (24, "hour"), "7d": (7, "day"), "30d": (30, "day"), "90d": (90, "day")}
DEFAULT_RANGE = "7d"


@dataclass(frozen=True, slots=True)
class Periods:
    name: str
    span: Span
    starts: list[dt.datetime]

    def labels(self) -> list[str]:
        pattern = "%m-%d %H:00" if self.span.step == "hour" else "%Y-%m-%d"
        return [start.strftime(pattern) for start in self.starts]

    def index(self) -> dict[dt.datetime, int]:
        return {start: i for i, start in enumerate(self.starts)}


def periods(name: str, now: dt.datetime) -> Periods:
    """The last ``name`` (one of ``RANGES``; an unknown name means the default) up to the end of
    the current hour or day, in UTC."""
    if name not in RANGES:
        name = DEFAULT_RANGE
    count, step = RANGES[name]
    now = now.astimezone(dt.UTC)
    if step == "hour":
        length = dt.timedelta(hours=1)
        current = now.replace(minute=0, second=0, microsecond=0)
    else:
        length = dt.timedelta(days=1)
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = current + length
    starts = [end - length * (count - i) for i in range(count)]
    return Periods(name, Span(starts[0], end, step), starts)
