"""The gateway's billing job: a sync every interval, and a reconciliation of the last day now and then."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.meter_sync import sync
from billing.reconcile import last_day, reconcile_linked
from gateway.config.stripe import StripeSettings
from gateway.db.models import MeterEventRow
from gateway.db.models.base import utcnow

if TYPE_CHECKING:
    from billing.stripe_api import StripeApi

log = logging.getLogger("tollgate.billing")


class BillingJob:
    """Owns the Stripe client of a gateway process (the admin API's Checkout uses it too)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: StripeSettings,
        report_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self._report_lag = report_lag  # seconds the oldest meter event has waited to be sent
        # Stripe's SDK takes seconds to import: only a gateway that bills loads it, and the API's
        # handlers can name this class without paying for it.
        from billing.stripe_api import StripeApi

        self.api: StripeApi = StripeApi(settings)
        self.healthy = True
        self._reconciled_at: dt.datetime | None = None

    async def run_forever(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.settings.sync_interval_seconds)

    async def run_once(self) -> None:
        """One sync and, when due, a reconciliation; failures are logged (once a streak) and retried
        on the next run: the outbox keeps whatever was not sent."""
        try:
            report = await sync(self.sessions, self.api)
            if report.sent:
                log.info("billing sync: %d meter events sent (%d micro-dollars)", report.sent, report.sent_micros)
            await self._reconcile_if_due()
            self.healthy = True
        except Exception as exc:
            if self.healthy:
                log.warning("billing sync failed, will retry: %s", exc)
            self.healthy = False
        if self._report_lag is not None:
            try:
                self._report_lag(await self._lag_seconds())
            except Exception as exc:  # the database is down: the sync's own warning says so
                log.debug("billing lag unknown: %s", exc)

    async def _lag_seconds(self) -> float:
        async with self.sessions() as session:
            oldest = (
                await session.execute(
                    select(func.min(MeterEventRow.planned_at)).where(MeterEventRow.status == "pending")
                )
            ).scalar_one()
        return 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())

    async def _reconcile_if_due(self) -> None:
        every = self.settings.reconcile_interval_seconds
        now = utcnow()
        if not every or (self._reconciled_at and (now - self._reconciled_at).total_seconds() < every):
            return
        start, end = last_day(now, self.settings.settle_seconds)
        checks = await reconcile_linked(self.sessions, self.api, start, end)
        self._reconciled_at = now
        differing = [check.customer for check in checks if check.differences]
        if differing:
            log.warning("billing reconciliation: Stripe differs from Tollgate for %s", ", ".join(differing))

    async def aclose(self) -> None:
        await self.api.aclose()
