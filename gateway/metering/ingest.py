"""Writing journaled usage into ``usage_events`` and ``usage_rollups``, idempotently.

Events are inserted with ``ON CONFLICT DO NOTHING`` on the request id; only the ones that were
really inserted are added to the hourly rollups (and their latency and error breakdowns) and
debited from prepaid credit balances, in the same transaction, so a replayed journal never counts
or charges anything twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.customers.credit_ledger import debit_usage
from gateway.db.models import UsageEvent, UsageRollup
from gateway.db.models.usage_rollup import COUNTERS, EVENT_SUMS
from gateway.metering.breakdowns import add_breakdowns
from gateway.metering.outcome import is_error
from gateway.metering.record import UsageRecord


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _event_row(record: UsageRecord) -> dict[str, Any]:
    row = msgspec.structs.asdict(record)
    row["created_at"] = dt.datetime.fromtimestamp(record.created_at, dt.UTC)
    return row


def rollup_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    totals: dict[tuple[int, int, int, str], dict[str, Any]] = {}
    for record in records:
        key = (int(record.created_at // 3600), record.customer_id, record.api_key_id, record.model)
        row = totals.get(key)
        if row is None:
            row = totals[key] = dict.fromkeys(COUNTERS, 0)
        row["requests"] += 1
        row["errors"] += is_error(record.outcome)
        row["cache_hits"] += record.cache_status != "miss"
        row["latency_ms_sum"] += record.latency_ms
        for name in EVENT_SUMS:
            row[name] += getattr(record, name)
    return [
        {"hour": _hour(hour), "customer_id": customer, "api_key_id": key, "model": model, **counters}
        for (hour, customer, key, model), counters in totals.items()
    ]


def _hour(hours_since_epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hours_since_epoch * 3600, dt.UTC)


async def ingest(session: AsyncSession, records: Sequence[UsageRecord]) -> int:
    """Store the records not stored yet; returns how many were new."""
    unique = list({r.request_id: r for r in records}.values())
    if not unique:
        return 0
    insert = _insert(session)
    # One statement executed for many parameter sets: SQLAlchemy compiles it once and batches the
    # rows itself ("insertmanyvalues"), which costs a fraction of a literal multi-row VALUES.
    # The Core table, not the ORM entity: the ORM's bulk path costs more per row than the insert.
    events = UsageEvent.__table__
    statement = insert(events).on_conflict_do_nothing(index_elements=["request_id"]).returning(events.c.request_id)
    inserted = set((await session.execute(statement, [_event_row(r) for r in unique])).scalars())
    fresh = [r for r in unique if r.request_id in inserted]
    await add_to_rollups(session, fresh)
    await debit_usage(session, fresh)
    return len(fresh)


async def add_to_rollups(session: AsyncSession, records: Sequence[UsageRecord]) -> None:
    """Add events to the hourly rollups and the dashboard's breakdowns of them."""
    insert = _insert(session)
    rows = rollup_rows(records)
    if rows:
        table = UsageRollup.__table__
        upsert = insert(table)
        upsert = upsert.on_conflict_do_update(
            index_elements=["hour", "customer_id", "api_key_id", "model"],
            set_={name: table.c[name] + upsert.excluded[name] for name in COUNTERS},
        )
        await session.execute(upsert, rows)
    await add_breakdowns(session, insert, records, rows)
