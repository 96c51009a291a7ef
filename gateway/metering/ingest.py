"""Writing journaled usage into ``usage_events`` and ``usage_rollups``, idempotently.

Events are inserted with ``ON CONFLICT DO NOTHING`` on the request id; only the ones that were
really inserted are added to the hourly rollups (and their latency and error breakdowns) and
debited from prepaid credit balances, in the same transaction, so a replayed journal never counts
or charges anything twice. Each event's ``serving_cost_micros`` (what it cost the operator) is priced
here from the ``cost`` block of its price-book version, off the request path; a self-hosted pool's
events get theirs when the hour is settled (gateway/metering/pool_hours.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.customers.credit_ledger import debit_usage
from gateway.db.inserts import insert_for
from gateway.db.models import ModelPrice, UsageEvent, UsageRollup
from gateway.db.models.usage_rollup import COUNTERS, EVENT_SUMS
from gateway.metering.breakdowns import add_breakdowns
from gateway.metering.outcome import is_error
from gateway.metering.pricing import ModelRates
from gateway.metering.record import UsageRecord
from gateway.metering.serving_cost import cost_rates, list_cost_micros

_EVENT_SUMS_OF = operator.attrgetter(*EVENT_SUMS)  # a record's EVENT_SUMS fields, as a tuple


@functools.cache
def _event_insert(insert: Any) -> Any:
    """The events' insert for the dialect's ``insert``, built once: a statement object reused keeps its
    cache key, which SQLAlchemy otherwise builds again (with the statement) for every batch."""
    events = UsageEvent.__table__
    return insert(events).on_conflict_do_nothing(index_elements=["request_id"]).returning(events.c.request_id)


@functools.cache
def _rollup_upsert(insert: Any) -> Any:
    """The rollups' upsert adding the counters, built once per dialect (as :func:`_event_insert`)."""
    table = UsageRollup.__table__
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=["hour", "customer_id", "api_key_id", "model"],
        set_={name: table.c[name] + upsert.excluded[name] for name in COUNTERS},
    )


@dataclass(frozen=True, slots=True)
class _PositionalInsert:
    """The events' insert as the driver takes it, for a driver with ``?`` placeholders (SQLite): many
    rows in one ``VALUES`` list, one flat tuple of parameters. Executed so, a batch costs about a
    third of the drain's CPU it costs through SQLAlchemy's executemany, which builds a dict of
    parameters and runs each value through its type, row by row (issue 19's profile of the drain)."""

    head: str  # INSERT INTO usage_events (...) VALUES
    row: str  # one row's placeholders, (?, ?, ...)
    tail: str  # ON CONFLICT ... RETURNING request_id
    rows_per_statement: int  # as many as the dialect's limit on parameters allows
    values: Callable[[UsageRecord], tuple[Any, ...]]  # a record's values for the columns but the two below
    serving_at: int  # where serving_cost_micros goes
    created_at: int  # where created_at goes, a datetime, not the record's Unix seconds
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # the column types' own conversions

    def statement(self, rows: int) -> str:
        return f"{self.head} VALUES {', '.join([self.row] * rows)}{self.tail}"

    def parameters(self, records: Sequence[UsageRecord], serving: Mapping[str, int]) -> list[Any]:
        flat: list[Any] = []
        for record in records:
            row = list(self.values(record))
            row.insert(self.serving_at, serving.get(record.request_id, 0))
            row[self.created_at] = dt.datetime.fromtimestamp(record.created_at, dt.UTC)
            for i, process in self.processors:
                row[i] = process(row[i])
            flat.extend(row)
        return flat


@functools.cache
def _positional_insert(insert: Any, dialect: Dialect) -> _PositionalInsert | None:
    """:class:`_PositionalInsert` for ``dialect``, built once from SQLAlchemy's own compilation of
    :func:`_event_insert`; None for drivers with other placeholders (Postgres keeps executemany)."""
    if dialect.paramstyle != "qmark":
        return None
    compiled = _event_insert(insert).compile(dialect=dialect)
    names = list(compiled.positiontup or ())
    row = f"({', '.join(['?'] * len(names))})"
    head, found, tail = str(compiled).partition(f" VALUES {row}")
    if not found:
        return None
    columns = UsageEvent.__table__.c
    types = (columns[name].type.dialect_impl(dialect) for name in names)
    processors = ((i, type_.bind_processor(dialect)) for i, type_ in enumerate(types))
    return _PositionalInsert(
        head=head,
        row=row,
        tail=tail,
        rows_per_statement=max(1, dialect.insertmanyvalues_max_parameters // len(names)),
        values=operator.attrgetter(*(name for name in names if name != "serving_cost_micros")),
        serving_at=names.index("serving_cost_micros"),
        created_at=names.index("created_at"),
        processors=tuple((i, process) for i, process in processors if process is not None),
    )


async def _insert_events(session: AsyncSession, records: list[UsageRecord], serving: Mapping[str, int]) -> set[str]:
    """Insert the events not stored yet; the request ids of those inserted."""
    insert = insert_for(session)
    positional = _positional_insert(insert, session.get_bind().dialect)
    if positional is None:
        # One statement executed for many parameter sets: SQLAlchemy compiles it once and batches the
        # rows itself ("insertmanyvalues"), which costs a fraction of a literal multi-row VALUES.
        # The Core table, not the ORM entity: the ORM's bulk path costs more per row than the insert.
        rows = [_event_row(r, serving) for r in records]
        return set((await session.execute(_event_insert(insert), rows)).scalars())
    connection = await session.connection()
    inserted: set[str] = set()
    step = positional.rows_per_statement
    for start in range(0, len(records), step):
        chunk = records[start : start + step]
        parameters = tuple(positional.parameters(chunk, serving))
        result = await connection.exec_driver_sql(positional.statement(len(chunk)), parameters)
        inserted.update(result.scalars())
    return inserted


def _event_row(record: UsageRecord, serving: Mapping[str, int]) -> dict[str, Any]:
    row = msgspec.structs.asdict(record)
    row["created_at"] = dt.datetime.fromtimestamp(record.created_at, dt.UTC)
    row["serving_cost_micros"] = serving.get(record.request_id, 0)
    return row


async def serving_costs(session: AsyncSession, records: Sequence[UsageRecord]) -> dict[str, int]:
    """Each record's cost to the operator at the list prices of its price-book version's ``cost`` block
    (one query per batch); records of models without one are absent (they cost 0 until settled)."""
    pairs = {(r.price_book_version, r.model) for r in records if r.price_book_version is not None}
    if not pairs:
        return {}
    query = select(ModelPrice.version, ModelPrice.model, ModelPrice.cost).where(
        tuple_(ModelPrice.version, ModelPrice.model).in_(sorted(pairs)), ModelPrice.cost.is_not(None)
    )
    rows = await session.execute(query)
    rates: dict[tuple[int | None, str], ModelRates] = {
        (version, model): cost_rates(cost) for version, model, cost in rows if cost is not None
    }
    found: dict[str, int] = {}
    for record in records:
        rate = rates.get((record.price_book_version, record.model))
        if rate is not None:
            found[record.request_id] = list_cost_micros(rate, record)
    return found


def rollup_rows(records: Iterable[UsageRecord], serving: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    # Records are grouped first and each group's columns summed at once: adding every record's
    # fields into its row one by one took a fifth of the drain's CPU. Sums run in record order
    # (``reduce``, not ``sum``), so the float ones come out exactly as added one by one.
    groups: dict[tuple[int, int, int, str], list[UsageRecord]] = {}
    for record in records:
        key = (int(record.created_at // 3600), record.customer_id, record.api_key_id, record.model)
        group = groups.get(key)
        if group is None:
            groups[key] = [record]
        else:
            group.append(record)
    return [_rollup_row(key, group, serving) for key, group in groups.items()]


def _rollup_row(
    key: tuple[int, int, int, str], group: list[UsageRecord], serving: Mapping[str, int] | None
) -> dict[str, Any]:
    hour, customer, api_key, model = key
    row: dict[str, Any] = {"hour": _hour(hour), "customer_id": customer, "api_key_id": api_key, "model": model}
    row["requests"] = len(group)
    row["errors"] = sum(is_error(record.outcome) for record in group)
    row["cache_hits"] = sum(record.cache_status != "miss" for record in group)
    columns = zip(*map(_EVENT_SUMS_OF, group), strict=True)
    row.update(zip(EVENT_SUMS, (functools.reduce(operator.add, column, 0) for column in columns), strict=True))
    costs = (serving.get(record.request_id, 0) for record in group) if serving else ()
    row["serving_cost_micros"] = sum(costs)
    row["latency_ms_sum"] = functools.reduce(operator.add, (record.latency_ms for record in group), 0)
    return row


def _hour(hours_since_epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hours_since_epoch * 3600, dt.UTC)


async def ingest(session: AsyncSession, records: Sequence[UsageRecord]) -> int:
    """Store the records not stored yet; returns how many were new."""
    unique = list({r.request_id: r for r in records}.values())
    if not unique:
        return 0
    serving = await serving_costs(session, unique)
    inserted = await _insert_events(session, unique, serving)
    fresh = [r for r in unique if r.request_id in inserted]
    await add_to_rollups(session, fresh, serving)
    await debit_usage(session, fresh)
    return len(fresh)


async def add_to_rollups(
    session: AsyncSession, records: Sequence[UsageRecord], serving: Mapping[str, int] | None = None
) -> None:
    """Add events (and their serving costs by request id) to the hourly rollups and the dashboard's
    breakdowns of them."""
    insert = insert_for(session)
    rows = rollup_rows(records, serving)
    if rows:
        await session.execute(_rollup_upsert(insert), rows)
    await add_breakdowns(session, insert, records, rows)


async def add_serving_costs(session: AsyncSession, changes: Iterable[tuple[dt.datetime, int, int, str, int]]) -> None:
    """Add serving costs settled after their events were stored, as ``(hour, customer_id, api_key_id,
    model, micros)``, to the rollups that already count those events (and nothing else to them)."""
    totals: dict[tuple[dt.datetime, int, int, str], int] = {}
    for hour, customer, key, model, micros in changes:
        totals[hour, customer, key, model] = totals.get((hour, customer, key, model), 0) + micros
    rows = [
        {
            "hour": hour,
            "customer_id": customer,
            "api_key_id": key,
            "model": model,
            **dict.fromkeys(COUNTERS, 0),
            "serving_cost_micros": micros,
        }
        for (hour, customer, key, model), micros in totals.items()
        if micros
    ]
    if not rows:
        return
    insert = insert_for(session)
    table = UsageRollup.__table__
    upsert = insert(table)
    upsert = upsert.on_conflict_do_update(
        index_elements=["hour", "customer_id", "api_key_id", "model"],
        set_={"serving_cost_micros": table.c.serving_cost_micros + upsert.excluded.serving_cost_micros},
    )
    await session.execute(upsert, rows)
    await add_breakdowns(session, insert, [], rows)
