"""The dashboard's rollups of new usage events: totals per hour and day by customer, key, model
and overall; latency histograms per model; errors by kind.

Called by the journal writer with the events it has just inserted, in the same transaction, so
these counts, like the usage rollups, never count a replayed event twice.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ErrorRollup, LatencyRollup, UsageTotal
from gateway.db.models.base import Base
from gateway.db.models.dashboard_rollups import TOTALS
from gateway.metering.latency_buckets import bucket_of
from gateway.metering.outcome import is_error
from gateway.metering.record import UsageRecord


@functools.lru_cache(maxsize=256)
def periods_of(hour_index: int) -> tuple[tuple[str, dt.datetime], tuple[str, dt.datetime]]:
    """The hour (hours since the epoch) and the UTC day it falls in."""
    hour = dt.datetime.fromtimestamp(hour_index * 3600, dt.UTC)
    return ("hour", hour), ("day", hour.replace(hour=0))


def error_kind(record: UsageRecord) -> str | None:
    """What the dashboard files an error under: its outcome and status, e.g. ``upstream_error 503``."""
    if not is_error(record.outcome):
        return None
    return f"{record.outcome} {record.status}"


# Each builder spreads per-hour sums over their periods and dimensions rather than adding every event
# into eight rows (that took half of the drain's CPU time): the totals spread the hourly usage rollup
# rows, which already sum the batch per hour, customer, key and model; the other two sum per hour first.


def total_rows(hourly: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The totals of the hourly usage rollup rows (``usage_ingest.rollup_rows``) per hour and day, for
    each customer, key, model and overall."""
    totals: dict[tuple[str, str, dt.datetime, str], list[int]] = {}
    for row in hourly:
        sums = [row[name] for name in TOTALS]
        members = (("all", ""), ("customer", str(row["customer_id"])), ("key", str(row["api_key_id"])))
        for step, start in periods_of(int(row["hour"].timestamp()) // 3600):
            for dimension, member in (*members, ("model", row["model"])):
                total = totals.setdefault((dimension, step, start, member), [0] * len(TOTALS))
                for i, value in enumerate(sums):
                    total[i] += value
    return [
        {"dimension": dimension, "step": step, "start": start, "member": member, **dict(zip(TOTALS, sums, strict=True))}
        for (dimension, step, start, member), sums in totals.items()
    ]


def latency_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    per_hour: Counter[tuple[int, str, str, int]] = Counter()
    for record in records:
        hour_index = int(record.created_at // 3600)
        per_hour[hour_index, record.model, "latency", bucket_of(record.latency_ms)] += 1
        if record.ttft_ms is not None:
            per_hour[hour_index, record.model, "ttft", bucket_of(record.ttft_ms)] += 1
    counts: Counter[tuple[str, dt.datetime, str, str, int]] = Counter()
    for (hour_index, model, metric, bucket), count in per_hour.items():
        for step, start in periods_of(hour_index):
            counts[step, start, model, metric, bucket] += count
    return [
        {"step": step, "start": start, "model": model, "metric": metric, "bucket": bucket, "count": count}
        for (step, start, model, metric, bucket), count in counts.items()
    ]


def error_rows(records: Iterable[UsageRecord]) -> list[dict[str, Any]]:
    per_hour: Counter[tuple[int, str]] = Counter()
    for record in records:
        kind = error_kind(record)
        if kind is not None:
            per_hour[int(record.created_at // 3600), kind] += 1
    counts: Counter[tuple[str, dt.datetime, str]] = Counter()
    for (hour_index, kind), count in per_hour.items():
        for step, start in periods_of(hour_index):
            counts[step, start, kind] += count
    return [{"step": step, "start": start, "kind": kind, "count": n} for (step, start, kind), n in counts.items()]


async def add_breakdowns(
    session: AsyncSession, insert: Any, fresh: Sequence[UsageRecord], hourly: Iterable[dict[str, Any]]
) -> None:
    """Add the new events, and their hourly usage rollup rows, to the dashboard's rollups; ``insert``
    is the dialect's ``insert``."""
    await _add(session, insert, UsageTotal, ["dimension", "step", "start", "member"], TOTALS, total_rows(hourly))
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
    await session.execute(_upsert(insert, model, tuple(key), tuple(counters)), rows)


@functools.lru_cache(maxsize=16)
def _upsert(insert: Any, model: type[Base], key: tuple[str, ...], counters: tuple[str, ...]) -> Any:
    """The upsert adding ``counters``, built once: a statement object reused keeps its cache key,
    which SQLAlchemy otherwise builds again (with the statement) for every batch. On the Core table,
    not the ORM entity, whose insert the session runs through its ORM bulk path for nothing."""
    table = model.__table__
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=list(key), set_={name: table.c[name] + upsert.excluded[name] for name in counters}
    )
