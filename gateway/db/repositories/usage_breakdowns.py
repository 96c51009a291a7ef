"""The hourly latency histograms and error counts of new usage events, added to their rollups.

Called by the journal writer with the events it has just inserted, in the same transaction, so
these counts, like the usage rollups, never count a replayed event twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ErrorRollup, LatencyRollup
from gateway.db.models.base import Base
from gateway.metering.latency_buckets import bucket_of
from gateway.metering.record import UsageRecord

# Outcomes that are not the gateway's or the upstream's failure.
NOT_ERRORS = frozenset({"ok", "client_disconnect"})


def hour_of(record: UsageRecord) -> dt.datetime:
    moment = dt.datetime.fromtimestamp(record.created_at, dt.UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def error_kind(record: UsageRecord) -> str | None:
    """What the dashboard files an error under: its outcome and status, e.g. ``upstream_error 503``."""
    if record.outcome in NOT_ERRORS:
        return None
    return f"{record.outcome} {record.status}"


def latency_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    counts: Counter[tuple[dt.datetime, str, str, int]] = Counter()
    for record in records:
        hour = hour_of(record)
        counts[hour, record.model, "latency", bucket_of(record.latency_ms)] += 1
        if record.ttft_ms is not None:
            counts[hour, record.model, "ttft", bucket_of(record.ttft_ms)] += 1
    return [
        {"hour": hour, "model": model, "metric": metric, "bucket": bucket, "count": count}
        for (hour, model, metric, bucket), count in counts.items()
    ]


def error_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    counts: Counter[tuple[dt.datetime, int, str, str]] = Counter()
    for record in records:
        kind = error_kind(record)
        if kind is not None:
            counts[hour_of(record), record.customer_id, record.model, kind] += 1
    return [
        {"hour": hour, "customer_id": customer, "model": model, "kind": kind, "count": count}
        for (hour, customer, model, kind), count in counts.items()
    ]


async def add_breakdowns(session: AsyncSession, insert: Any, fresh: Sequence[UsageRecord]) -> None:
    """Add the new events' counts; ``insert`` is the dialect's ``insert`` (it has ``on_conflict``)."""
    await _add_counts(session, insert, LatencyRollup, ["hour", "model", "metric", "bucket"], latency_rows(fresh))
    await _add_counts(session, insert, ErrorRollup, ["hour", "customer_id", "model", "kind"], error_rows(fresh))


async def _add_counts(
    session: AsyncSession, insert: Any, model: type[Base], key: list[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    upsert = insert(model)
    count = model.__table__.c["count"]
    upsert = upsert.on_conflict_do_update(index_elements=key, set_={"count": count + upsert.excluded["count"]})
    await session.execute(upsert, rows)
