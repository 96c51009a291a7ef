"""Usage events as the drain inserts them: on SQLite, many rows to a statement with the driver's own
placeholders (``ingest._PositionalInsert``); the rows stored must be exactly those SQLAlchemy's
executemany of the same insert stores, and a replayed part of a batch must be left out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.db.inserts import insert_for
from gateway.db.models import UsageEvent
from gateway.keys import repository as api_keys
from gateway.metering.ingest import _event_insert, _event_row, _positional_insert, ingest
from gateway.metering.record import UsageRecord
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]


async def _owner(sessions: Sessions) -> tuple[int, int]:
    async with sessions.begin() as session:
        customer = await customers.create(session, "ingest-co")
        key = (await api_keys.create(session, customer)).info.id
    return customer.id, key


def _varied(prefix: str, customer: int, key: int) -> list[UsageRecord]:
    """Records that use every column, None and non-None, whole and fractional."""
    return [
        usage_record(f"{prefix}-ok", customer_id=customer, api_key_id=key, created_at=1_740_000_123.456789,
                     streamed=True, input_tokens=12, cached_input_tokens=3, cache_write_tokens=2, output_tokens=9,
                     reasoning_tokens=4, images=1, audio_seconds=2.5, characters=17, latency_ms=14.25,
                     ttft_ms=3.5, cache_status="hit", cost_micros=1234, saved_micros=56, price_book_version=None,
                     answer_id="chatcmpl-1"),
        usage_record(f"{prefix}-err", customer_id=customer, api_key_id=key, deployment=None, status=502,
                     outcome="upstream_error", latency_ms=7, ttft_ms=None, answer_id=None),
    ]  # fmt: skip


async def _stored(sessions: Sessions) -> dict[str, dict[str, Any]]:
    """Each event's columns as the database holds them (read as text, no column type converts them:
    SQL compares the stored form, a date's included)."""
    async with sessions() as session:
        rows = (await session.execute(text("SELECT * FROM usage_events"))).mappings()
        return {row["request_id"]: {k: v for k, v in row.items() if k != "request_id"} for row in rows}


async def test_the_rows_stored_are_those_sqlalchemy_stores(sessions: Sessions) -> None:
    customer, key = await _owner(sessions)
    async with sessions.begin() as session:
        assert await ingest(session, _varied("fast", customer, key)) == 2
        # The same records, under other ids, through SQLAlchemy's executemany of the same insert.
        rows = [_event_row(r, {}) for r in _varied("core", customer, key)]
        await session.execute(_event_insert(insert_for(session)), rows)
    stored = await _stored(sessions)
    assert stored["fast-ok"] == stored["core-ok"]
    assert stored["fast-err"] == stored["core-err"]
    assert stored["fast-ok"]["ttft_ms"] == 3.5


async def test_a_batch_over_one_statement_stores_each_new_record_once(sessions: Sessions) -> None:
    customer, key = await _owner(sessions)
    async with sessions() as session:
        positional = _positional_insert(insert_for(session), session.get_bind().dialect)
    per_statement = positional.rows_per_statement if positional is not None else 500
    first = [usage_record(f"a-{n}", customer_id=customer, api_key_id=key) for n in range(per_statement + 5)]
    async with sessions.begin() as session:
        assert await ingest(session, first[:10]) == 10
    later = [usage_record(f"b-{n}", customer_id=customer, api_key_id=key) for n in range(7)]
    async with sessions.begin() as session:  # ten already stored (a replay), spread over two statements
        assert await ingest(session, [*first, *later]) == len(first) - 10 + 7
    async with sessions() as session:
        ids = list((await session.execute(select(UsageEvent.request_id))).scalars())
    assert sorted(ids) == sorted(r.request_id for r in [*first, *later])
