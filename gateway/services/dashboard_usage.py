"""The dashboard's usage pages: usage and cost over time, the cache, and the top customers.

Each page is a few grouped sums over the hourly rollups (``gateway.db.repositories.dashboard``),
turned into charts and the tables behind them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.dashboard.charts import Chart, Series
from gateway.dashboard.pages import Report, Table, dollars, percent_cell, ratio, usd_cell
from gateway.dashboard.periods import Periods
from gateway.db.models.dashboard_rollups import TOTALS
from gateway.db.repositories import dashboard
from gateway.db.repositories.dashboard import Dimension, Sums

TOP_SERIES = 6
TOP_CUSTOMERS = 10
OTHERS = "others"


async def usage_report(sessions: async_sessionmaker[AsyncSession], periods: Periods, by: Dimension) -> Report:
    async with sessions.begin() as session:
        rows = await dashboard.usage_sums(session, periods.span, by_period=True, by=by)
        names = await dashboard.labels(session, by, sorted({row.member for row in rows}))
    totals = _totals(rows, names)
    ranked = sorted(totals.values(), key=lambda total: (-total.cost_micros, total.member))
    shown = [total.member for total in ranked[:TOP_SERIES]]
    cost = _per_period(periods, rows, names, shown, lambda row: row.cost_micros)
    requests = _per_period(periods, rows, names, shown, lambda row: row.requests)
    return Report(
        title=f"Usage and cost by {by}",
        charts=[
            Chart(
                "usage-cost",
                f"Cost per {periods.span.step} (USD)",
                "USD",
                periods.labels(),
                [Series(name, [dollars(v) for v in values], [usd_cell(v) for v in values]) for name, values in cost],
            ),
            Chart(
                "usage-requests",
                f"Requests per {periods.span.step}",
                "requests",
                periods.labels(),
                [Series(name, [float(v) for v in values], [str(v) for v in values]) for name, values in requests],
            ),
        ],
        tables=[_usage_table(by, ranked)],
    )


async def cache_report(sessions: async_sessionmaker[AsyncSession], periods: Periods) -> Report:
    async with sessions.begin() as session:
        per_period = await dashboard.usage_sums(session, periods.span, by_period=True)
        per_model = await dashboard.usage_sums(session, periods.span, by_period=False, by="model")
    index = periods.index()
    rates: list[float | None] = [None] * len(index)
    saved = [0] * len(index)
    for row in per_period:
        if row.period is not None and row.period in index:
            rates[index[row.period]] = ratio(row.cache_hits, row.requests)
            saved[index[row.period]] = row.saved_micros
    labels = periods.labels()
    return Report(
        title="Cache",
        charts=[
            Chart("cache-hit-rate", "Cache hit rate (%)", "%", labels, [Series("hit rate", rates, _pcts(rates))]),
            Chart(
                "cache-saved",
                "Money saved by the cache (USD)",
                "USD",
                labels,
                [Series("saved", [dollars(v) for v in saved], [usd_cell(v) for v in saved])],
                kind="bar",
            ),
        ],
        tables=[
            Table(
                "cache-by-model",
                "By model",
                ["model", "requests", "cache hits", "hit rate (%)", "saved (USD)"],
                [
                    [
                        r.member,
                        str(r.requests),
                        str(r.cache_hits),
                        percent_cell(ratio(r.cache_hits, r.requests)),
                        usd_cell(r.saved_micros),
                    ]
                    for r in sorted(per_model, key=lambda r: (-r.saved_micros, r.member))
                ],
            )
        ],
    )


async def customers_report(sessions: async_sessionmaker[AsyncSession], periods: Periods) -> Report:
    async with sessions.begin() as session:
        rows = await dashboard.usage_sums(session, periods.span, by_period=False, by="customer")
        names = await dashboard.labels(session, "customer", [row.member for row in rows])
    ranked = sorted(rows, key=lambda row: (-row.cost_micros, names.get(row.member, "")))[:TOP_CUSTOMERS]
    customer_names = [names.get(row.member, f"#{row.member}") for row in ranked]
    costs = [row.cost_micros for row in ranked]
    chart = Chart(
        "top-customers",
        "Top customers by cost (USD)",
        "USD",
        customer_names,
        [Series("cost", [dollars(c) for c in costs], [usd_cell(c) for c in costs])],
        kind="bar",
    )
    table = Table(
        "top-customers-table",
        f"Top {TOP_CUSTOMERS} customers",
        ["customer", "requests", "input tokens", "output tokens", "cost (USD)", "saved (USD)", "error rate (%)"],
        [
            [
                name,
                str(r.requests),
                str(r.input_tokens),
                str(r.output_tokens),
                usd_cell(r.cost_micros),
                usd_cell(r.saved_micros),
                percent_cell(ratio(r.errors, r.requests)),
            ]
            for name, r in zip(customer_names, ranked, strict=True)
        ],
    )
    return Report(title="Top customers", charts=[chart], tables=[table])


def _totals(rows: Iterable[Sums], names: dict[str, str]) -> dict[str, Sums]:
    totals: dict[str, Sums] = {}
    for row in rows:
        name = names.get(row.member, f"#{row.member}")
        before = totals.get(name)
        totals[name] = row if before is None else _add(before, row)
    return {name: _renamed(total, name) for name, total in totals.items()}


def _add(a: Sums, b: Sums) -> Sums:
    return Sums(None, a.member, *(getattr(a, name) + getattr(b, name) for name in TOTALS))


def _renamed(total: Sums, name: str) -> Sums:
    return replace(total, member=name)


def _per_period(
    periods: Periods, rows: Iterable[Sums], names: dict[str, str], shown: list[str], value: Callable[[Sums], int]
) -> list[tuple[str, list[int]]]:
    """One series per shown group and one for all the others (when there are any)."""
    index = periods.index()
    series = {name: [0] * len(index) for name in shown}
    for row in rows:
        if row.period is None or row.period not in index:
            continue
        name = names.get(row.member, f"#{row.member}")
        series.setdefault(name if name in shown else OTHERS, [0] * len(index))[index[row.period]] += value(row)
    return list(series.items())


def _usage_table(by: Dimension, ranked: list[Sums]) -> Table:
    return Table(
        "usage-by-group",
        f"By {by}",
        [by, "requests", "errors", "input tokens", "output tokens", "cost (USD)"],
        [
            [t.member, str(t.requests), str(t.errors), str(t.input_tokens), str(t.output_tokens),
             usd_cell(t.cost_micros)]
            for t in ranked
        ],
    )  # fmt: skip


def _pcts(values: list[float | None]) -> list[str]:
    return [percent_cell(v) for v in values]
