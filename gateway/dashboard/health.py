"""The dashboard's health pages: latency p50/p99 and time to first token, and error rates by kind.

Percentiles come from the hourly latency histograms (summed over the range, then read off), and
error rates are the error rollups' counts over the usage rollups' requests of the same period.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.dashboard import repository as dashboard
from gateway.dashboard.charts import Chart, Series
from gateway.dashboard.pages import Report, Table, ms_cell, percent_cell, ratio
from gateway.dashboard.periods import Periods
from gateway.dashboard.repository import Count
from gateway.metering.latency_buckets import percentile

TOP_KINDS = 6
QUANTILES = (("p50", 0.5), ("p99", 0.99))


async def latency_report(sessions: async_sessionmaker[AsyncSession], periods: Periods) -> Report:
    async with sessions.begin() as session:
        per_period = await dashboard.latency_counts(session, periods.span, by_period=True)
        per_model = await dashboard.latency_counts(session, periods.span, by_period=False)
    index = periods.index()
    histograms: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    for count in per_period:
        if count.period in index and count.bucket is not None:
            histograms[count.group, index[count.period]][count.bucket] = count.count
    charts = [
        _percentile_chart("latency", "Latency (ms)", periods, histograms),
        _percentile_chart("ttft", "Time to first token (ms, streams)", periods, histograms),
    ]
    return Report(title="Latency", charts=charts, tables=[_latency_table(per_model)])


def _percentile_chart(
    metric: str, title: str, periods: Periods, histograms: dict[tuple[str, int], dict[int, int]]
) -> Chart:
    series = []
    for name, fraction in QUANTILES:
        values = [percentile(histograms.get((metric, i), {}), fraction) for i in range(len(periods.starts))]
        series.append(Series(name, values, [ms_cell(v) for v in values]))
    return Chart(metric, title, "ms", periods.labels(), series)


def _latency_table(per_model: list[Count]) -> Table:
    histograms: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for count in per_model:
        metric, _, model = count.group.partition(" ")
        if count.bucket is not None:
            histograms[model][metric][count.bucket] = count.count
    rows = []
    for model in sorted(histograms):
        latency, ttft = histograms[model]["latency"], histograms[model]["ttft"]
        cells = [ms_cell(percentile(h, q)) for h in (latency, ttft) for _, q in QUANTILES]
        rows.append([model, str(sum(latency.values())), *cells])
    headers = ["model", "requests", "p50 (ms)", "p99 (ms)", "TTFT p50 (ms)", "TTFT p99 (ms)"]
    return Table("latency-by-model", "By model", headers, rows)


async def errors_report(sessions: async_sessionmaker[AsyncSession], periods: Periods) -> Report:
    async with sessions.begin() as session:
        per_period = await dashboard.error_counts(session, periods.span, by_period=True)
        totals = await dashboard.error_counts(session, periods.span, by_period=False)
        requests = await dashboard.usage_sums(session, periods.span, by_period=True)
    index = periods.index()
    asked = [0] * len(index)
    for row in requests:
        if row.period in index:
            asked[index[row.period]] = row.requests
    kinds = [count.group for count in sorted(totals, key=_by_count)][:TOP_KINDS]
    errors = {kind: [0] * len(index) for kind in kinds}
    for count in per_period:
        if count.group in errors and count.period in index:
            errors[count.group][index[count.period]] = count.count
    series = []
    for kind, counts in errors.items():
        rates = [ratio(n, whole) for n, whole in zip(counts, asked, strict=True)]
        series.append(Series(kind, rates, [percent_cell(r) for r in rates]))
    everything = sum(asked)
    table = Table(
        "errors-by-kind",
        "Errors by kind",
        ["kind", "errors", "of all requests (%)"],
        [[c.group, str(c.count), percent_cell(ratio(c.count, everything))] for c in sorted(totals, key=_by_count)],
    )
    chart = Chart("error-rate", "Error rate by kind (% of requests)", "%", periods.labels(), series)
    return Report(title="Errors", charts=[chart], tables=[table])


def _by_count(count: Count) -> tuple[int, str]:
    return -count.count, count.group
