"""Reconciliation finds every hour where Stripe's meter and Tollgate's usage differ, and says why."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select

from billing.meter_sync import sync
from billing.reconcile import HourDifference, reconcile
from billing.status import billing_status
from billing.stripe_api import StripeApi
from gateway.db.models import BillingReconciliation
from gateway.metering.ingest import ingest
from tests.fakes.stripe_server import FakeStripe
from tests.integration.billing.conftest import Sessions, add_customer, hours_ago, use
from tests.integration.billing.test_sync_crash import billing_config, run_tollgate
from tests.support.usage_records import usage_record


def _hour(n: int) -> dt.datetime:
    return hours_ago(n).replace(minute=0)


async def test_a_lost_event_and_unsent_usage_are_listed_and_matching_hours_are_not(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme, beta = await add_customer(sessions, "acme"), await add_customer(sessions, "beta")
    for hours, cost in ((6, 100), (5, 200), (4, 300)):
        await use(sessions, acme, hours_ago(hours), cost, f"a{hours}")
    await use(sessions, beta, hours_ago(5), 999, "b5")
    await sync(sessions, stripe_api)
    fake.lose(f"tollgate-{acme.id}-{_hour(5):%Y%m%d%H}-0")  # Stripe dropped it (a planted difference)
    await use(sessions, acme, hours_ago(4, minutes=30), 45, "late")  # stored after the sync: not sent yet

    result = await reconcile(sessions, stripe_api, "acme", _hour(8), _hour(0))
    other = await reconcile(sessions, stripe_api, "beta", _hour(8), _hour(0))

    assert result.differences == [
        HourDifference(_hour(5), tollgate_micros=200, sent_micros=200, stripe_micros=0, kind="missing_at_stripe"),
        HourDifference(_hour(4), tollgate_micros=345, sent_micros=300, stripe_micros=300, kind="not_sent_yet"),
    ]
    assert (result.tollgate_micros, result.stripe_micros) == (645, 400)
    assert other.differences == [] and other.tollgate_micros == other.stripe_micros == 999
    async with sessions() as session:
        stored = (
            await session.execute(select(BillingReconciliation).where(BillingReconciliation.customer_id == acme.id))
        ).scalar_one()
        statuses = {status.customer: status for status in await billing_status(session)}
    assert stored.differences == 2 and stored.details[0]["kind"] == "missing_at_stripe"
    assert statuses["acme"].reconciliation_differences == 2 and statuses["beta"].reconciliation_differences == 0
    assert statuses["acme"].pending_micros == 45 and statuses["acme"].synced_through == _hour(4)


async def test_stripe_counting_more_than_tollgate_measured_is_listed(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(3), 10, "a")
    await sync(sessions, stripe_api)
    sent = next(iter(fake.accepted.values()))
    fake.accepted["someone-else"] = {**sent, "payload": {**sent["payload"], "value": "5"}}

    result = await reconcile(sessions, stripe_api, "acme", _hour(4), _hour(0))

    assert [(d.hour, d.kind, d.stripe_micros) for d in result.differences] == [(_hour(3), "extra_at_stripe", 15)]


async def test_the_cli_prints_every_difference(
    sessions: Sessions, database_url: str, fake_stripe: tuple[FakeStripe, str], tmp_path: Path
) -> None:
    fake, url = fake_stripe
    config = billing_config(database_url, url, tmp_path)
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(2), 1234, "a")
    synced = await asyncio.to_thread(run_tollgate, config, "billing", "sync")
    assert synced.returncode == 0, synced.stderr
    fake.accepted.clear()
    start, end = f"{_hour(3):%Y-%m-%dT%H:%M}Z", f"{_hour(0):%Y-%m-%dT%H:%M}Z"

    done = await asyncio.to_thread(run_tollgate, config, "billing", "reconcile", "--from", start, "--to", end)

    assert done.returncode == 0, done.stderr
    assert "tollgate 0.001234 USD, stripe 0.000000 USD" in done.stdout
    row = next(line for line in done.stdout.splitlines() if "missing_at_stripe" in line)
    assert row.split() == [f"{_hour(2):%Y-%m-%d}", f"{_hour(2):%H:%M:%S}Z", "missing_at_stripe", "1234", "1234", "0"]


async def test_a_week_of_hours_goes_out_in_batches_of_100_and_comes_back_over_pages(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    records = [
        usage_record(f"r{n}", customer_id=acme.id, created_at=hours_ago(n).timestamp(), cost_micros=n)
        for n in range(1, 151)
    ]
    async with sessions.begin() as session:
        await ingest(session, records)

    report = await sync(sessions, stripe_api)
    result = await reconcile(sessions, stripe_api, "acme", _hour(160), _hour(0))

    streamed = [body for _, path, _, body in fake.requests if path == "/v2/billing/meter_event_stream"]
    pages = [query for _, path, _, query in fake.requests if path.endswith("/event_summaries")]
    assert report.sent == 150 and [len(json.loads(body)["events"]) for body in streamed] == [100, 50]
    assert len(pages) == 2 and "starting_after=" in pages[1]
    assert (result.tollgate_micros, result.stripe_micros, result.differences) == (11325, 11325, [])
