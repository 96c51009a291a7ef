"""A fake Stripe per test, a Stripe client pointed at it, and usage stored the way the journal drain does."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.stripe_api import StripeApi
from gateway.config.stripe import StripeSettings
from gateway.customers import repository as customers
from gateway.db.models import Customer
from gateway.metering.ingest import ingest
from tests.fakes.stripe_server import API_KEY, WEBHOOK_SECRET, FakeStripe, build_app
from tests.fakes.threaded import serve_in_thread
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def fake_stripe() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    with serve_in_thread(build_app(fake)) as url:
        yield fake, url


def stripe_settings(url: str, **overrides: object) -> StripeSettings:
    fields: dict[str, object] = {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": url,
        "meter_events_base": url,
        "settle_seconds": 0.0,
        "rate_limit_backoff_seconds": 0.01,
        "rate_limit_max_wait_seconds": 0.5,
        **overrides,
    }
    return StripeSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def stripe_api(fake_stripe: tuple[FakeStripe, str]) -> AsyncIterator[StripeApi]:
    api = StripeApi(stripe_settings(fake_stripe[1]))
    try:
        yield api
    finally:
        await api.aclose()


def hours_ago(n: int, minutes: int = 10) -> dt.datetime:
    """A moment ``minutes`` into the hour that started ``n`` hours before the current one."""
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return now - dt.timedelta(hours=n, minutes=-minutes)


async def add_customer(sessions: Sessions, name: str, *, prepaid: bool = False) -> Customer:
    async with sessions.begin() as session:
        return await customers.create(session, name, terms=customers.CustomerTerms(prepaid=prepaid))


async def use(sessions: Sessions, customer: Customer, at: dt.datetime, cost_micros: int, request_id: str) -> None:
    """One request's usage, stored as the journal drain stores it (event, rollup and any debit)."""
    record = usage_record(request_id, customer_id=customer.id, created_at=at.timestamp(), cost_micros=cost_micros)
    async with sessions.begin() as session:
        await ingest(session, [record])
