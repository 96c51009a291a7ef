"""The dashboard's rollups, written by the journal writer, and the pages' reports read from them,
on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.dashboard import health as dashboard_health
from gateway.dashboard import usage as dashboard_usage
from gateway.dashboard.periods import periods
from gateway.db.models import ErrorRollup, LatencyRollup, UsageRollup, UsageTotal
from gateway.keys import repository as api_keys
from gateway.metering.ingest import ingest
from gateway.metering.rollup_rebuild import ROLLUPS, rebuild_rollups
from tests.support.dashboard_data import seed_dashboard
from tests.support.usage_records import usage_record

NOW = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)  # half an hour into a new UTC day


async def _table_sums(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions.begin() as session:
        requests = await session.scalar(select(func.sum(UsageTotal.requests)))
        latency = await session.scalar(select(func.sum(LatencyRollup.count)))
        errors = await session.scalar(select(func.sum(ErrorRollup.count)))
    return int(requests or 0), int(latency or 0), int(errors or 0)


async def test_every_event_counts_once_per_period_and_dimension_and_replays_add_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seed = await seed_dashboard(sessions, NOW)
    # 14 events, each in one hour and one day, for each of 4 dimensions; 14 latencies and 7 TTFTs,
    # twice (hour and day); 2 errors, twice.
    assert await _table_sums(sessions) == (14 * 2 * 4, (14 + 7) * 2, 2 * 2)

    async with sessions.begin() as session:
        assert await ingest(session, seed.records) == 0
    assert await _table_sums(sessions) == (14 * 2 * 4, (14 + 7) * 2, 2 * 2)


async def test_reports_show_the_seeded_usage_in_the_current_hour_and_day(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seed = await seed_dashboard(sessions, NOW)
    hours, days = periods("24h", NOW), periods("7d", NOW)

    usage = await dashboard_usage.usage_report(sessions, hours, "customer")
    cost = {series.name: series.cells[-1] for series in usage.charts[0].series}
    assert cost == {"acme": "0.007035", "beta": "0.000021"}
    assert seed.cost("acme") == 7_035

    cache = await dashboard_usage.cache_report(sessions, days)
    assert cache.charts[0].series[0].cells[-2:] == ["–", "14.3"]  # yesterday had no requests

    errors = await dashboard_health.errors_report(sessions, days)
    assert errors.tables[0].rows == [["gateway_error 500", "1", "7.1"], ["upstream_error 503", "1", "7.1"]]


async def test_the_usage_chart_shows_the_six_costliest_keys_and_the_rest_as_others(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        owner = await customers.create(session, "many-keys")
        keys = [(await api_keys.create(session, owner, name=f"k{i}")).info.id for i in range(8)]
        records = [
            usage_record(f"r{i}", created_at=NOW.timestamp(), customer_id=owner.id, api_key_id=key, cost_micros=100 + i)
            for i, key in enumerate(keys)
        ]
        await ingest(session, records)

    report = await dashboard_usage.usage_report(sessions, periods("24h", NOW), "key")

    today = {series.name: series.cells[-1] for series in report.charts[0].series}
    assert list(today) == [f"many-keys/k{i}" for i in (7, 6, 5, 4, 3, 2)] + ["others"]
    assert today["others"] == "0.000201"  # k0 and k1: 100 + 101
    assert len(report.tables[0].rows) == 8


async def _every_rollup(sessions: async_sessionmaker[AsyncSession]) -> list[list[tuple[object, ...]]]:
    async with sessions.begin() as session:
        return [sorted(tuple(row) for row in await session.execute(select(model.__table__))) for model in ROLLUPS]


async def test_a_rebuild_recomputes_every_rollup_from_the_events_alone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_dashboard(sessions, NOW)
    before = await _every_rollup(sessions)
    async with sessions.begin() as session:
        # As after an upgrade across migration 0005: events whose breakdowns were never written;
        # and an hourly rollup that drifted.
        for model in (UsageTotal, LatencyRollup, ErrorRollup):
            await session.execute(delete(model))
        await session.execute(update(UsageRollup).values(requests=UsageRollup.requests + 5))
    assert await _every_rollup(sessions) != before
    async with sessions.begin() as session:
        assert await rebuild_rollups(session, batch=4) == 14  # four batches, the last one short
    assert await _every_rollup(sessions) == before


async def test_events_stored_while_a_rebuild_runs_are_counted_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seed = await seed_dashboard(sessions, NOW)
    acme = {"customer_id": seed.customers["acme"], "api_key_id": seed.keys["acme"]}
    late = [usage_record(f"late-{i}", created_at=NOW.timestamp() + 60 * i, **acme) for i in range(3)]

    async def drain() -> int:
        async with sessions.begin() as session:
            return await ingest(session, late)

    async with sessions.begin() as session:
        assert await rebuild_rollups(session) == 14
        stored = asyncio.ensure_future(drain())
        await asyncio.sleep(0.5)
        assert not stored.done()  # the drain's transaction waits for the rebuild's
    assert await stored == 3
    assert (await _table_sums(sessions))[0] == (14 + 3) * 2 * 4
