"""What answers cost the operator, on SQLite and Postgres: list prices of an external backend priced
when the drain stores the event, and a self-hosted pool's hour settled to the micro-dollar."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin import usage_reports as reports
from gateway.admin.wire import UsageQuery
from gateway.db.models import ModelPrice, PoolHour, UsageEvent, UsageRollup, UsageTotal
from gateway.metering import price_books
from gateway.metering.ingest import ingest
from gateway.metering.pool_hours import Reading, record, settle_closed
from gateway.metering.price_sync import model_price
from gateway.settings import Pricing
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]
HOUR = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
LATER = HOUR + dt.timedelta(hours=2)
PRICES = {"gpu-pool": Decimal("2.50")}  # per replica-hour


async def _publish(sessions: Sessions) -> int:
    charged = Pricing(input_per_mtok=Decimal(5), output_per_mtok=Decimal(15))
    listed = Pricing(input_per_mtok=Decimal("2.5"), output_per_mtok=Decimal(10), cached_input_per_mtok=Decimal("1.25"))
    async with sessions.begin() as session:
        published = await price_books.publish(
            session, [model_price("gpt-x", charged, cost=listed), model_price("llama", Pricing())]
        )
    return published.book.version


async def _events(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(UsageEvent.request_id, UsageEvent.serving_cost_micros))
        return {request_id: cost for request_id, cost in rows}


async def test_external_backend_costs_its_list_prices_and_usage_rows_show_the_margin(sessions: Sessions) -> None:
    version = await _publish(sessions)
    at = HOUR.timestamp() + 60
    records = [
        # 1000 in (200 of them cached) and 500 out: 800 x 2.5 + 200 x 1.25 + 500 x 10 = 7250 micros
        usage_record(
            "a",
            model="gpt-x",
            deployment="openai",
            created_at=at,
            input_tokens=800,
            cached_input_tokens=200,
            output_tokens=500,
            cost_micros=12_500,
            price_book_version=version,
        ),
        usage_record(
            "hit",
            model="gpt-x",
            deployment="openai",
            created_at=at,
            input_tokens=800,
            output_tokens=500,
            cache_status="hit",
            cost_micros=1000,
            price_book_version=version,
        ),
        usage_record(
            "failed",
            model="gpt-x",
            deployment="openai",
            created_at=at,
            input_tokens=800,
            outcome="upstream_error",
            status=502,
            price_book_version=version,
        ),
    ]
    async with sessions.begin() as session:
        assert await ingest(session, records) == 3
    assert await _events(sessions) == {"a": 7250, "hit": 0, "failed": 0}

    report = await reports.report(sessions, UsageQuery(group_by="model"))
    [row] = report.data
    assert (row.cost_micros, row.serving_cost_micros, row.margin_micros) == (13_500, 7250, 6250)
    async with sessions() as session:
        totals = (
            await session.execute(select(UsageTotal.serving_cost_micros).where(UsageTotal.dimension == "model"))
        ).scalars()
        assert set(totals) == {7250}


async def _sample(sessions: Sessions, replicas: int, busy: int | None, slots: int = 6) -> None:
    """``slots`` ten-minute slots of the hour with ``replicas`` running, ``busy`` of them busy."""
    for i in range(slots):
        async with sessions.begin() as session:
            await record(session, [Reading("gpu-pool", replicas, busy)], HOUR + dt.timedelta(minutes=10 * i), 600.0)


async def test_a_pool_hour_is_allocated_to_its_requests_and_idle_to_the_micro_dollar(sessions: Sessions) -> None:
    version = await _publish(sessions)
    await _sample(sessions, replicas=2, busy=1, slots=3)  # busy half the time it ran, in its first half-hour
    records = [
        usage_record(
            f"r{i}",
            model="llama",
            deployment="gpu-pool",
            created_at=HOUR.timestamp() + 30 * i,
            latency_ms=latency,
            input_tokens=10 * i,
            output_tokens=7,
            cost_micros=0,
            price_book_version=version,
        )
        for i, latency in enumerate([333.0, 333.0, 334.0, 1.0, 0.5, 1234.5, 7.0])
    ]
    async with sessions.begin() as session:
        await ingest(session, records)

    [hour] = await settle_closed(sessions, PRICES, LATER)
    # 2 replicas x 1800 s at $2.50 an hour: $2.50; half of it busy by vLLM's metrics
    assert (hour.replica_seconds, hour.bill_micros, hour.busy_source) == (3600.0, 2_500_000, "vllm")
    costs = await _events(sessions)
    assert sum(costs.values()) == hour.allocated_micros == 1_250_000
    assert hour.allocated_micros + hour.idle_micros == hour.bill_micros
    assert costs["r5"] > costs["r0"] == costs["r1"] > 0
    async with sessions() as session:
        rollup = (await session.execute(select(UsageRollup.serving_cost_micros))).scalars().all()
        assert sum(rollup) == 1_250_000
    assert await settle_closed(sessions, PRICES, LATER) == []  # settled once
    assert sum((await _events(sessions)).values()) == 1_250_000


async def test_a_sleeping_pool_costs_nothing(sessions: Sessions) -> None:
    await _sample(sessions, replicas=0, busy=None)

    [hour] = await settle_closed(sessions, PRICES, LATER)

    assert (hour.replica_seconds, hour.bill_micros, hour.idle_micros, hour.requests) == (0.0, 0, 0, 0)


async def test_an_hour_not_closed_yet_waits(sessions: Sessions) -> None:
    await _sample(sessions, replicas=1, busy=0)

    assert await settle_closed(sessions, PRICES, HOUR + dt.timedelta(minutes=65)) == []
    async with sessions() as session:
        assert (await session.execute(select(PoolHour))).first() is None
        assert (await session.execute(select(ModelPrice))).first() is None
