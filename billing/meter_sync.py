"""One billing sync: link customers to Stripe, plan what is owed, send it, record what was accepted.

Exactly once, across crashes: a row is planned (committed) before it is sent, and marked sent only
after Stripe accepted its batch. A crash after sending and before that commit leaves the row
pending; the next run sends it again with the same identifier and value, and Stripe drops the copy
(it de-duplicates identifiers over at least 24 hours, so a sync must run again within a day).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import linking, meter_plan
from billing.stripe_types import STREAM_BATCH, MeterEventOut
from gateway.db.models import MeterEventRow
from gateway.db.models.base import utcnow

if TYPE_CHECKING:
    from billing.stripe_api import StripeApi

log = logging.getLogger("tollgate.billing")


@dataclass(frozen=True, slots=True)
class SyncReport:
    customers_linked: int  # Tollgate customers given a Stripe customer in this run
    planned: int  # outbox rows written
    sent: int  # rows Stripe accepted
    sent_micros: int
    expired: int  # rows that became too old to send


async def sync(
    sessions: async_sessionmaker[AsyncSession], api: StripeApi, now: dt.datetime | None = None
) -> SyncReport:
    """Run every step once; a Stripe failure stops the run (raising), keeping what was done so far."""
    now = now or utcnow()
    linked = await linking.link_all(sessions, api)
    await api.meter_id()  # events for a meter that does not exist would be dropped by Stripe
    async with sessions.begin() as session:
        expired = await meter_plan.expire(session, now)
        planned = await meter_plan.plan(session, api.settings.identifier_prefix, now, api.settings.settle_seconds)
    sent, micros = await send_pending(sessions, api)
    if expired:
        log.warning("%d meter events became older than Stripe accepts before they could be sent", expired)
    return SyncReport(linked, planned, sent, micros, expired)


async def send_pending(sessions: async_sessionmaker[AsyncSession], api: StripeApi) -> tuple[int, int]:
    """Send pending rows, oldest hour first, a batch at a time; returns (rows, micro-dollars) accepted."""
    sent = micros = 0
    while True:
        async with sessions() as session:
            query = (
                select(MeterEventRow)
                .where(MeterEventRow.status == "pending")
                .order_by(MeterEventRow.hour, MeterEventRow.identifier)
                .limit(STREAM_BATCH)
            )
            batch = list((await session.execute(query)).scalars())
        if not batch:
            return sent, micros
        await api.send_meter_events(
            [MeterEventOut(row.identifier, row.stripe_customer_id, row.hour, row.value_micros) for row in batch]
        )
        async with sessions.begin() as session:
            await mark_sent(session, [row.identifier for row in batch])
        sent += len(batch)
        micros += sum(row.value_micros for row in batch)


async def mark_sent(session: AsyncSession, identifiers: list[str]) -> None:
    await session.execute(
        update(MeterEventRow)
        .where(MeterEventRow.identifier.in_(identifiers), MeterEventRow.status == "pending")
        .values(status="sent", sent_at=utcnow())
    )
