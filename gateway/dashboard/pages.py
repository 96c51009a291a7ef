"""What a dashboard page shows, as plain data: charts, tables and how to print their numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.dashboard.charts import Chart
from gateway.metering.pricing import MICROS_PER_USD, format_usd


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def dollars(micros: int) -> float:
    return micros / MICROS_PER_USD


def usd_cell(micros: int) -> str:
    return format_usd(micros)


def percent_cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def ms_cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole
