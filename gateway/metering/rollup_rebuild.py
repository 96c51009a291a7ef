"""Recomputing every rollup from the raw usage events.

The journal drain adds each event to the hourly rollups and the dashboard's breakdowns as it stores
it, so they never need rebuilding in normal operation. Usage stored before the breakdowns existed
(migration 0005 added them) is in none of them, though, and a deployment upgraded across it shows
that history only in ``usage_events``. A rebuild empties the rollup tables and adds every event again
through the drain's own code, in one transaction, so that afterwards they agree with
``usage_events`` exactly. It may run while gateways serve: on Postgres the rollup tables are locked
until it commits, and a drain committing meanwhile waits and then adds its events once; SQLite has
one writer at a time anyway.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import RowMapping, delete, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ErrorRollup, LatencyRollup, UsageEvent, UsageRollup, UsageTotal
from gateway.metering.ingest import add_to_rollups
from gateway.metering.record import UsageRecord

ROLLUPS = (UsageRollup, UsageTotal, LatencyRollup, ErrorRollup)
BATCH = 5000


async def rebuild_rollups(session: AsyncSession, batch: int = BATCH) -> int:
    """Empty the rollups and add every usage event to them again, in the caller's transaction;
    returns how many events were read."""
    if session.get_bind().dialect.name == "postgresql":
        names = ", ".join(model.__tablename__ for model in ROLLUPS)
        await session.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    for model in ROLLUPS:
        await session.execute(delete(model))
    events = UsageEvent.__table__
    order = (events.c.created_at, events.c.request_id)
    read, after = 0, None
    while True:
        query = select(events).order_by(*order).limit(batch)
        if after is not None:
            query = query.where(tuple_(*order) > tuple_(*after))
        rows = (await session.execute(query)).mappings().all()
        if not rows:
            return read
        serving = {row["request_id"]: row["serving_cost_micros"] for row in rows}
        await add_to_rollups(session, [_record(row) for row in rows], serving)
        read += len(rows)
        after = (rows[-1]["created_at"], rows[-1]["request_id"])


def _record(row: RowMapping) -> UsageRecord:
    fields = {name: row[name] for name in UsageRecord.__struct_fields__}
    created: dt.datetime = row["created_at"]
    return UsageRecord(**{**fields, "created_at": created.timestamp()})
