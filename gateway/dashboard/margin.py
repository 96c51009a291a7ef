"""The dashboard's margin page: what customers were charged against what serving them cost the
operator, by model and by customer, and each self-hosted pool's settled hours (utilisation, idle
cost, cost per thousand tokens). Read from the dashboard's rollups and ``pool_hours`` only.

A pool's requests carry their serving cost once their hour is settled (gateway/metering/pool_hours.py),
so the current hour shows a pool's models at no serving cost yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.dashboard import repository as dashboard
from gateway.dashboard.charts import Chart, Series
from gateway.dashboard.pages import Report, Table, dollars, percent_cell, ratio, usd_cell
from gateway.dashboard.periods import Periods
from gateway.dashboard.repository import Dimension, Span, Sums
from gateway.db.models import PoolHour

ROWS = 100


@dataclass(frozen=True, slots=True)
class PoolSums:
    pool: str
    hours: int
    replica_seconds: float
    busy_seconds: float
    tokens: int
    bill_micros: int
    idle_micros: int


async def margin_report(sessions: async_sessionmaker[AsyncSession], periods: Periods) -> Report:
    span = periods.span
    async with sessions.begin() as session:
        overall = await dashboard.usage_sums(session, span, by_period=True)
        by_model = await dashboard.usage_sums(session, span, by_period=False, by="model")
        by_customer = await dashboard.usage_sums(session, span, by_period=False, by="customer")
        names = await dashboard.labels(session, "customer", [row.member for row in by_customer])
        pools = await pool_sums(session, span)
    return Report(
        title="Margin",
        charts=[_chart(periods, overall)],
        tables=[
            _margin_table("model", by_model, {}),
            _margin_table("customer", by_customer, names),
            _pools_table(pools),
        ],
    )


async def pool_sums(session: AsyncSession, span: Span) -> list[PoolSums]:
    """Each pool's settled hours that start in the span, summed."""
    hour = PoolHour
    query = (
        select(
            hour.pool,
            func.count().label("hours"),
            func.sum(hour.replica_seconds).label("replica_seconds"),
            func.sum(hour.busy_seconds).label("busy_seconds"),
            func.sum(hour.tokens).label("tokens"),
            func.sum(hour.bill_micros).label("bill"),
            func.sum(hour.idle_micros).label("idle"),
        )
        .where(hour.hour >= span.start, hour.hour < span.end)
        .group_by(hour.pool)
        .order_by(hour.pool)
    )
    return [
        PoolSums(row.pool, int(row.hours), float(row.replica_seconds), float(row.busy_seconds), int(row.tokens),
                 int(row.bill), int(row.idle))
        for row in await session.execute(query)
    ]  # fmt: skip


def _chart(periods: Periods, overall: list[Sums]) -> Chart:
    index = periods.index()
    charged, serving = [0] * len(index), [0] * len(index)
    for row in overall:
        if row.period in index:
            charged[index[row.period]] = row.cost_micros
            serving[index[row.period]] = row.serving_cost_micros
    margin = [c - s for c, s in zip(charged, serving, strict=True)]
    series = [
        Series(name, [dollars(v) for v in values], [usd_cell(v) for v in values])
        for name, values in (("charged", charged), ("serving cost", serving), ("margin", margin))
    ]
    return Chart(
        "margin", f"Charged, serving cost and margin per {periods.span.step} (USD)", "USD", periods.labels(), series
    )


def _margin_table(by: Dimension, rows: list[Sums], names: dict[str, str]) -> Table:
    ranked = sorted(rows, key=lambda r: (-(r.cost_micros - r.serving_cost_micros), r.member))[:ROWS]
    return Table(
        f"margin-by-{by}",
        f"Margin by {by}",
        [by, "requests", "charged (USD)", "serving cost (USD)", "margin (USD)", "margin (%)"],
        [
            [names.get(r.member, r.member), str(r.requests), usd_cell(r.cost_micros), usd_cell(r.serving_cost_micros),
             usd_cell(r.cost_micros - r.serving_cost_micros),
             percent_cell(ratio(r.cost_micros - r.serving_cost_micros, r.cost_micros))]
            for r in ranked
        ],
    )  # fmt: skip


def _pools_table(pools: list[PoolSums]) -> Table:
    return Table(
        "pools",
        "Self-hosted pools (settled hours)",
        ["pool", "hours", "replica-hours", "utilisation (%)", "bill (USD)", "idle cost (USD)", "tokens",
         "cost per 1k tokens (USD)"],
        [
            [p.pool, str(p.hours), f"{p.replica_seconds / 3600:.2f}",
             percent_cell(None if p.replica_seconds == 0 else 100.0 * p.busy_seconds / p.replica_seconds),
             usd_cell(p.bill_micros), usd_cell(p.idle_micros), str(p.tokens),
             "–" if p.tokens == 0 else usd_cell(p.bill_micros * 1000 // p.tokens)]
            for p in pools
        ],
    )  # fmt: skip
