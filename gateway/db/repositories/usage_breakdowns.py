"""The dashboard's rollups of new usage events: totals per hour and day by customer, key, model
and overall; latency histograms per model; errors by kind.

Called by the journal writer with the events it has just inserted, in the same transaction, so
these counts, like the usage rollups, never count a replayed event twice.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ErrorRollup, LatencyRollup, UsageTotal
from gateway.db.models.base import Base
from gateway.db.models.dashboard_rollups import TOTALS
from gateway.metering.latency_buckets import bucket_of
from gateway.metering.record import UsageRecord

# Outcomes that are not the gateway's or the upstream's failure.
NOT_ERRORS = frozenset({"ok", "client_disconnect"})


def periods_of(record: UsageRecord) -> Iterator[tuple[str, dt.datetime]]:
    """The hour and the UTC day the record falls in."""
    moment = dt.datetime.fromtimestamp(record.created_at, dt.UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    yield "hour", hour
    yield "day", hour.replace(hour=0)


def error_kind(record: UsageRecord) -> str | None:
    """What the dashboard files an error under: its outcome and status, e.g. ``upstream_error 503``."""
    if record.outcome in NOT_ERRORS:
        return None
    return f"{record.outcome} {record.status}"


def _members(record: UsageRecord) -> tuple[tuple[str, str], ...]:
    return ("all", ""), ("customer", str(record.customer_id)), ("key", str(record.api_key_id)), ("model", record.model)


def total_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str, dt.datetime, str], dict[str, int]] = {}
    for record in records:
        added = {
            "requests": 1,
            "errors": int(error_kind(record) is not None),
            "cache_hits": int(record.cache_status != "miss"),
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cost_micros": record.cost_micros,
            "saved_micros": record.saved_micros,
        }
        for step, start in periods_of(record):
            for dimension, member in _members(record):
                row = totals.setdefault((dimension, step, start, member), dict.fromkeys(TOTALS, 0))
                for name, value in added.items():
                    row[name] += value
    return [
        {"dimension": dimension, "step": step, "start": start, "member": member, **sums}
        for (dimension, step, start, member), sums in totals.items()
    ]


def latency_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, dt.datetime, str, str, int]] = Counter()
    for record in records:
        for step, start in periods_of(record):
            counts[step, start, record.model, "latency", bucket_of(record.latency_ms)] += 1
            if record.ttft_ms is not None:
                counts[step, start, record.model, "ttft", bucket_of(record.ttft_ms)] += 1
    return [
        {"step": step, "start": start, "model": model, "metric": metric, "bucket": bucket, "count": count}
        for (step, start, model, metric, bucket), count in counts.items()
    ]


def error_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, dt.datetime, str]] = Counter()
    for record in records:
        kind = error_kind(record)
        if kind is not None:
            for step, start in periods_of(record):
                counts[step, start, kind] += 1
    return [{"step": step, "start": start, "kind": kind, "count": n} for (step, start, kind), n in counts.items()]


async def add_breakdowns(session: AsyncSession, insert: Any, fresh: Sequence[UsageRecord]) -> None:
    """Add the new events to the dashboard's rollups; ``insert`` is the dialect's ``insert``."""
    await _add(session, insert, UsageTotal, ["dimension", "step", "start", "member"], TOTALS, total_rows(fresh))
    key = ["step", "start", "model", "metric", "bucket"]
    await _add(session, insert, LatencyRollup, key, ("count",), latency_rows(fresh))
    await _add(session, insert, ErrorRollup, ["step", "start", "kind"], ("count",), error_rows(fresh))


async def _add(
    session: AsyncSession,
    insert: Any,
    model: type[Base],
    key: list[str],
    counters: Sequence[str],
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    upsert = insert(model)
    table = model.__table__
    upsert = upsert.on_conflict_do_update(
        index_elements=key, set_={name: table.c[name] + upsert.excluded[name] for name in counters}
    )
    await session.execute(upsert, rows)
