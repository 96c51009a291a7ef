"""Usage totals from the hourly rollups and the raw event listing, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.db.engine import is_sqlite, session_factory
from gateway.metering import usage_queries as usage
from gateway.metering.usage_queries import GroupBy, UsageFilter
from tests.support.usage_data import BY_CUSTOMER, BY_DAY, BY_KEY, BY_MODEL, Seeded, at, seed_usage

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def new_york(database_url: str) -> AsyncIterator[Sessions]:
    """Sessions whose Postgres clock is in New York: a UTC day must stay a UTC day."""
    args = {} if is_sqlite(database_url) else {"server_settings": {"timezone": "America/New_York"}}
    engine = create_async_engine(database_url, connect_args=args)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def seeded(new_york: Sessions) -> Seeded:
    return await seed_usage(new_york)


async def _totals(
    sessions: Sessions, group_by: GroupBy, where: UsageFilter | None = None
) -> dict[str, tuple[int, int]]:
    async with sessions() as session:
        rows = await usage.totals(session, where or UsageFilter(), group_by)
    return {row.group: (row.requests, row.cost_micros) for row in rows}


async def test_usage_grouped_by_model_key_customer_and_day(new_york: Sessions, seeded: Seeded) -> None:
    by_key = {seeded.prefixes[label]: totals for label, totals in BY_KEY.items()}

    assert await _totals(new_york, "model") == BY_MODEL
    assert await _totals(new_york, "key") == by_key
    assert await _totals(new_york, "customer") == BY_CUSTOMER
    assert await _totals(new_york, "day") == BY_DAY


async def test_usage_grouped_by_hour_in_time_order(new_york: Sessions, seeded: Seeded) -> None:
    async with new_york() as session:
        rows = await usage.totals(session, UsageFilter(), "hour")

    assert [row.group for row in rows] == [
        "2025-03-01T22:00:00Z",
        "2025-03-01T23:00:00Z",
        "2025-03-02T00:00:00Z",
        "2025-03-02T05:00:00Z",
    ]
    assert [row.start for row in rows] == [at("2025-03-01T22:00"), *(row.start for row in rows[1:])]
    assert rows[1].errors == 1 and rows[3].cache_hits == 2 and rows[0].latency_ms_sum == 200.0


async def test_usage_filters_by_customer_key_model_and_half_open_time_range(new_york: Sessions, seeded: Seeded) -> None:
    acme, beta = seeded.customers["acme"], seeded.customers["beta"]

    assert await _totals(new_york, "model", UsageFilter(customer_id=beta)) == {"model-a": (4, 40)}
    assert await _totals(new_york, "customer", UsageFilter(api_key_id=seeded.keys["acme-2"])) == {"acme": (1, 250)}
    assert await _totals(new_york, "customer", UsageFilter(model="model-b")) == {"acme": (1, 250)}
    assert await _totals(new_york, "day", UsageFilter(customer_id=acme, end=at("2025-03-02T00:00"))) == {
        "2025-03-01T00:00:00Z": (3, 1_500_250)
    }
    assert await _totals(new_york, "day", UsageFilter(start=at("2025-03-02T00:00"), end=at("2025-03-02T05:00"))) == {
        "2025-03-02T00:00:00Z": (3, 3_000_001)
    }
    assert await _totals(new_york, "model", UsageFilter(start=at("2030-01-01"))) == {}


async def test_events_are_listed_newest_first_page_by_page(new_york: Sessions, seeded: Seeded) -> None:
    pages: list[list[str]] = []
    before = None
    async with new_york() as session:
        while True:
            page = await usage.events(
                session, UsageFilter(customer_id=seeded.customers["acme"]), limit=2, before=before
            )
            if not page:
                break
            pages.append([event.request_id for event in page])
            before = (page[-1].created_at, page[-1].request_id)
        in_range = await usage.events(session, UsageFilter(start=at("2025-03-01T22:15"), end=at("2025-03-02T00:06")))
        others = await usage.events(session, UsageFilter(customer_id=seeded.customers["beta"]))

    assert pages == [["req_4", "req_3"], ["req_2", "req_1"], ["req_0"]]
    assert [event.request_id for event in in_range] == ["req_3", "req_2", "req_1"]
    assert others == []
