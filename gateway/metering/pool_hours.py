"""Self-hosted pools' GPU-hours: sampled while the gateway runs, settled once each hour has closed.

Sampling (every ``SAMPLE_SECONDS``, a lifespan task): how many replicas of each priced pool run, as
the router sees them (``Wake.running()`` for a pool that scales to zero: 0 while it sleeps, so a
sleeping pool costs nothing), and how many are busy by vLLM's ``/metrics`` (the monitor's last
scrape). Rows are keyed by pool and slot, so every gateway may sample and a slot counts once.

Settling (a lifespan task every ``SETTLE_SECONDS``, or ``tollgate usage settle``): for each closed
hour (``GRACE`` after its end, so the journal has drained) of each pool with a ``gpu_hour_usd``, the
bill is ``replica-seconds x gpu_hour_usd``; :func:`gateway.metering.serving_cost.allocate` splits it
over the hour's requests (their ``serving_cost_micros``) and the idle rest, which add up to it
exactly. The pool-hour row is written first with ``ON CONFLICT DO NOTHING``: an hour is settled once,
whoever settles it. Events stored after their hour was settled keep no share (the grace avoids it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.vllm import VLLMConfig
from gateway.db.inserts import insert_for
from gateway.db.models import PoolHour, PoolSample, UsageEvent
from gateway.metering.ingest import add_serving_costs
from gateway.metering.outcome import BILLED
from gateway.metering.serving_cost import allocate, bill_micros
from gateway.settings import Settings

log = logging.getLogger("tollgate.metering")

SAMPLE_SECONDS = 10.0
SETTLE_SECONDS = 300.0
GRACE = dt.timedelta(minutes=10)
HOUR = dt.timedelta(hours=1)


class Reading(msgspec.Struct, frozen=True):
    pool: str
    replicas: int  # running now
    busy: int | None  # replicas with requests running or waiting (vLLM metrics); None: none scraped


def pool_prices(settings: Settings) -> dict[str, Decimal]:
    """Each vLLM pool's ``gpu_hour_usd``, for the pools that have one."""
    return {
        name: config.gpu_hour_usd
        for name, config in settings.backends.items()
        if isinstance(config, VLLMConfig) and config.gpu_hour_usd is not None
    }


def tasks(
    sessions: async_sessionmaker[AsyncSession], settings: Callable[[], Settings], read: Callable[[], list[Reading]]
) -> list[Coroutine[Any, Any, None]]:
    """The lifespan's sampling and settling; ``read`` gives the priced pools' readings as the router
    sees them now, and ``settings`` the settings after any reload."""
    return [sample_forever(sessions, read), settle_forever(sessions, lambda: pool_prices(settings()))]


async def record(session: AsyncSession, found: list[Reading], at: dt.datetime, seconds: float) -> None:
    """Store one slot's readings; a slot another gateway stored already is left as it is."""
    if not found:
        return
    epoch = at.timestamp()
    slot = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)
    rows = [{"pool": r.pool, "slot": slot, "seconds": seconds, "replicas": r.replicas, "busy": r.busy} for r in found]
    await session.execute(insert_for(session)(PoolSample).on_conflict_do_nothing(index_elements=["pool", "slot"]), rows)


async def sample_forever(
    sessions: async_sessionmaker[AsyncSession], read: Callable[[], list[Reading]], interval: float = SAMPLE_SECONDS
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            found = read()
            if found:  # no priced pool: no transaction
                async with sessions.begin() as session:
                    await record(session, found, dt.datetime.now(dt.UTC), interval)
        except Exception as exc:
            log.warning("could not record the pools' replicas: %s", exc)


async def settle_forever(
    sessions: async_sessionmaker[AsyncSession], prices: Callable[[], Mapping[str, Decimal]]
) -> None:
    while True:
        await asyncio.sleep(SETTLE_SECONDS)
        try:
            await settle_closed(sessions, prices(), dt.datetime.now(dt.UTC))
        except Exception as exc:
            log.warning("could not settle the pools' hours: %s", exc)


async def settle_closed(
    sessions: async_sessionmaker[AsyncSession], prices: Mapping[str, Decimal], now: dt.datetime
) -> list[PoolHour]:
    """Settle every hour of a priced pool that has samples, ended ``GRACE`` before ``now`` and is not
    settled yet; each in its own transaction. Returns the hours settled."""
    if not prices:
        return []
    async with sessions() as session:
        samples = select(PoolSample.pool, PoolSample.slot).where(PoolSample.pool.in_(sorted(prices)))
        hours = sorted({(pool, _hour_of(slot)) for pool, slot in await session.execute(samples)})
        settled = {(pool, hour) for pool, hour in await session.execute(select(PoolHour.pool, PoolHour.hour))}
    done = []
    for pool, hour in hours:
        if (pool, hour) in settled or hour + HOUR + GRACE > now:
            continue
        async with sessions.begin() as session:
            row = await settle(session, pool, hour, prices[pool])
        if row is not None:
            done.append(row)
    return done


def _hour_of(slot: dt.datetime) -> dt.datetime:
    return slot.replace(minute=0, second=0, microsecond=0)


async def settle(session: AsyncSession, pool: str, hour: dt.datetime, gpu_hour_usd: Decimal) -> PoolHour | None:
    """Settle one pool-hour in the caller's transaction; None when it was settled already."""
    replica_seconds, busy_seconds = await _running(session, pool, hour)
    events = await _events(session, pool, hour)
    tokens = [e["tokens"] for e in events]
    allocation = allocate(
        bill_micros(replica_seconds, gpu_hour_usd),
        replica_seconds,
        busy_seconds,
        [e["latency_ms"] for e in events],
        tokens,
    )
    row = {
        "pool": pool,
        "hour": hour,
        "replica_seconds": replica_seconds,
        "busy_seconds": allocation.busy_seconds,
        "busy_source": allocation.busy_source,
        "requests": len(events),
        "tokens": sum(tokens),
        "bill_micros": allocation.bill_micros,
        "allocated_micros": sum(allocation.costs),
        "idle_micros": allocation.idle_micros,
        "settled_at": dt.datetime.now(dt.UTC),
    }
    claim = (
        insert_for(session)(PoolHour).on_conflict_do_nothing(index_elements=["pool", "hour"]).returning(PoolHour.pool)
    )
    if (await session.execute(claim, [row])).first() is None:
        return None
    if events:
        costs = [{"id": e["request_id"], "cost": cost} for e, cost in zip(events, allocation.costs, strict=True)]
        table = cast(Table, UsageEvent.__table__)
        change = (
            update(table).where(table.c.request_id == bindparam("id")).values(serving_cost_micros=bindparam("cost"))
        )
        await session.execute(change.execution_options(synchronize_session=False), costs)
        deltas = [
            (hour, e["customer_id"], e["api_key_id"], e["model"], c - e["serving_cost_micros"])
            for e, c in zip(events, allocation.costs, strict=True)
        ]
        await add_serving_costs(session, deltas)
    return PoolHour(**row)


async def _running(session: AsyncSession, pool: str, hour: dt.datetime) -> tuple[float, float | None]:
    """Replica-seconds running in the hour, and busy (None when no sample had vLLM's metrics)."""
    query = select(
        func.coalesce(func.sum(PoolSample.replicas * PoolSample.seconds), 0.0),
        func.sum(PoolSample.busy * PoolSample.seconds),
    ).where(PoolSample.pool == pool, PoolSample.slot >= hour, PoolSample.slot < hour + HOUR)
    running, busy = (await session.execute(query)).one()
    return float(running), None if busy is None else float(busy)


async def _events(session: AsyncSession, pool: str, hour: dt.datetime) -> list[dict[str, Any]]:
    """The hour's requests served by the pool (billed, not answered from the cache), by request id."""
    event = UsageEvent
    tokens = (
        event.input_tokens
        + event.cached_input_tokens
        + event.cache_write_tokens
        + event.output_tokens
        + event.reasoning_tokens
    )
    query = (
        select(
            event.request_id,
            event.customer_id,
            event.api_key_id,
            event.model,
            event.latency_ms,
            tokens.label("tokens"),
            event.serving_cost_micros,
        )
        .where(
            event.deployment == pool,
            event.created_at >= hour,
            event.created_at < hour + HOUR,
            event.outcome.in_(sorted(BILLED)),
            event.cache_status == "miss",
        )
        .order_by(event.request_id)
    )
    return [dict(row) for row in (await session.execute(query)).mappings()]
