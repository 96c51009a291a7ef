"""The dashboard's usage pages: usage and cost over time, the cache, and the top customers.

Each page is a few grouped sums over the hourly rollups (``gateway.dashboard.repository``),
turned into charts and the tables behind them.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.dashboard import repository as dashboard
from gateway.dashboard.charts import Chart, Series
from gateway.dashboard.pages import Report, Table, dollars, percent_cell, ratio, usd_cell
from gateway.dashboard.periods import Periods
from gateway.dashboard.repository import Dimension, Sums

TOP_SERIES = 6
TOP_CUSTOMERS = 10
TABLE_ROWS = 100
OTHERS = "others"


async def usage_report(sessions: async_sessionmaker[AsyncSession], periods: Periods, by: Dimension) -> Report:
    """Cost and requests per period of the biggest few members (by cost) and of all the others; a
    table of the members by cost. Only the charted members are summed per period."""
    span = periods.span
    async with sessions.begin() as session:
        totals = await dashboard.usage_sums(session, span, by_period=False, by=by)
        ranked = sorted(totals, key=lambda total: (-total.cost_micros, total.member))[:TABLE_ROWS]
        top = [total.member for total in ranked[:TOP_SERIES]]
        per_member = await dashboard.usage_sums(session, span, by_period=True, by=by, members=top)
        overall = await dashboard.usage_sums(session, span, by_period=True) if len(totals) > len(top) else []
        names = await dashboard.labels(session, by, [total.member for total in ranked])
    series = _series(periods, per_member, overall, [(member, names.get(member, member)) for member in top])
    labels = periods.labels()
    cost = [Series(name, [dollars(v) for v in costs], [usd_cell(v) for v in costs]) for name, costs, _ in series]
    asked = [Series(name, [float(v) for v in counts], [str(v) for v in counts]) for name, _, counts in series]
    return Report(
        title=f"Usage and cost by {by}",
        charts=[
            Chart("usage-cost", f"Cost per {span.step} (USD)", "USD", labels, cost),
            Chart("usage-requests", f"Requests per {span.step}", "requests", labels, asked),
        ],
        tables=[_usage_table(by, [replace(total, member=names.get(total.member, total.member)) for total in ranked])],
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


def _series(
    periods: Periods, per_member: list[Sums], overall: list[Sums], shown: list[tuple[str, str]]
) -> list[tuple[str, list[int], list[int]]]:
    """``(name, cost per period, requests per period)`` of each shown member, and of the others
    (everything less the shown members) when ``overall`` is given."""
    index = periods.index()
    costs = {member: [0] * len(index) for member, _ in shown}
    counts = {member: [0] * len(index) for member, _ in shown}
    for row in per_member:
        if row.period in index:
            costs[row.member][index[row.period]] = row.cost_micros
            counts[row.member][index[row.period]] = row.requests
    found = [(name, costs[member], counts[member]) for member, name in shown]
    if overall:
        other_costs, other_counts = [0] * len(index), [0] * len(index)
        for row in overall:
            if row.period in index:
                i = index[row.period]
                other_costs[i] = row.cost_micros - sum(costs[member][i] for member in costs)
                other_counts[i] = row.requests - sum(counts[member][i] for member in counts)
        found.append((OTHERS, other_costs, other_counts))
    return found


def _usage_table(by: Dimension, ranked: list[Sums]) -> Table:
    return Table(
        "usage-by-group",
        f"By {by} (the {TABLE_ROWS} costliest)",
        [by, "requests", "errors", "input tokens", "output tokens", "cost (USD)"],
        [
            [t.member, str(t.requests), str(t.errors), str(t.input_tokens), str(t.output_tokens),
             usd_cell(t.cost_micros)]
            for t in ranked
        ],
    )  # fmt: skip


def _pcts(values: list[float | None]) -> list[str]:
    return [percent_cell(v) for v in values]
