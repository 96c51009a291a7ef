"""Usage reaches Stripe's meter exactly once, per customer and hour, on SQLite and Postgres."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from billing import meter_plan
from billing.meter_sync import sync
from billing.status import billing_status
from billing.stripe_api import StripeApi
from billing.stripe_types import StripeUnavailable
from gateway.db.models import Customer, MeterEventRow
from tests.fakes.stripe_server import FakeStripe
from tests.integration.billing.conftest import Sessions, add_customer, hours_ago, use


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def _rows(sessions: Sessions) -> list[MeterEventRow]:
    async with sessions() as session:
        return list((await session.execute(select(MeterEventRow).order_by(MeterEventRow.identifier))).scalars())


async def _stripe_id(sessions: Sessions, customer: Customer) -> str:
    async with sessions() as session:
        found = await session.get(Customer, customer.id)
        assert found is not None and found.stripe_customer_id is not None
        return found.stripe_customer_id


async def test_each_closed_customer_hour_is_sent_once_under_a_deterministic_identifier(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme, beta = await add_customer(sessions, "acme"), await add_customer(sessions, "beta")
    await use(sessions, acme, hours_ago(3), 1_500_000, "r1")
    await use(sessions, acme, hours_ago(3, minutes=40), 250, "r2")
    await use(sessions, acme, hours_ago(1), 7, "r3")
    await use(sessions, beta, hours_ago(2), 40, "r4")
    await use(sessions, beta, hours_ago(0), 99, "r5")  # the current hour is not closed: not yet

    first = await sync(sessions, stripe_api)
    again = await sync(sessions, stripe_api)

    acme_stripe, beta_stripe = await _stripe_id(sessions, acme), await _stripe_id(sessions, beta)
    assert fake.customers[acme_stripe]["metadata"] == {"tollgate_customer_id": str(acme.id)}
    assert fake.totals(acme_stripe) == {_hour(hours_ago(3)): 1_500_250, _hour(hours_ago(1)): 7}
    assert fake.totals(beta_stripe) == {_hour(hours_ago(2)): 40}
    assert sorted(fake.accepted) == sorted(
        [
            f"tollgate-{acme.id}-{_hour(hours_ago(3)):%Y%m%d%H}-0",
            f"tollgate-{acme.id}-{_hour(hours_ago(1)):%Y%m%d%H}-0",
            f"tollgate-{beta.id}-{_hour(hours_ago(2)):%Y%m%d%H}-0",
        ]
    )
    assert (first.customers_linked, first.sent, first.sent_micros) == (2, 3, 1_500_297)
    assert (again.customers_linked, again.planned, again.sent) == (0, 0, 0)
    assert len(fake.received) == 3 and not fake.rejected
    meter = next(iter(fake.meters.values()))
    assert (meter["event_name"], meter["default_aggregation"], meter["event_time_window"]) == (
        "tollgate_cost_micros",
        {"formula": "sum"},
        "hour",
    )


async def test_usage_stored_late_for_a_sent_hour_goes_out_as_one_more_event(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(2), 1000, "r1")
    await sync(sessions, stripe_api)
    await use(sessions, acme, hours_ago(2, minutes=50), 234, "r2")  # a journal replayed late

    late = await sync(sessions, stripe_api)

    hour = _hour(hours_ago(2))
    assert fake.totals(await _stripe_id(sessions, acme)) == {hour: 1234}
    assert [(row.identifier, row.value_micros, row.status) for row in await _rows(sessions)] == [
        (f"tollgate-{acme.id}-{hour:%Y%m%d%H}-0", 1000, "sent"),
        (f"tollgate-{acme.id}-{hour:%Y%m%d%H}-1", 234, "sent"),
    ]
    assert (late.planned, late.sent) == (1, 1)


async def test_rate_limits_are_waited_out_and_a_lasting_one_leaves_the_usage_for_the_next_run(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(2), 500, "r1")
    fake.throttle("/v2/billing/meter_event_stream", 3)

    report = await sync(sessions, stripe_api)

    assert fake.served_429 == 3 and report.sent == 1
    await use(sessions, acme, hours_ago(1), 600, "r2")
    fake.throttle("/v2/billing/meter_event_stream", 1000)  # longer than the configured half second
    with pytest.raises(StripeUnavailable):
        await sync(sessions, stripe_api)
    assert [row.status for row in await _rows(sessions)] == ["sent", "pending"]

    fake.throttle("/v2/billing/meter_event_stream", 0)
    await sync(sessions, stripe_api)
    assert sum(fake.totals(await _stripe_id(sessions, acme)).values()) == 1100


async def test_an_expired_stream_session_is_renewed(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(3), 5, "r1")
    await sync(sessions, stripe_api)
    fake.expire_sessions()
    await use(sessions, acme, hours_ago(2), 6, "r2")

    await sync(sessions, stripe_api)

    assert sum(fake.totals(await _stripe_id(sessions, acme)).values()) == 11
    assert len(fake.tokens) == 2


async def test_amounts_beyond_15_significant_digits_are_split(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(2), 2 * 10**15 + 5, "r1")

    await sync(sessions, stripe_api)

    values = [int(event["payload"]["value"]) for event in fake.received]
    assert all(len(str(value)) <= 15 for value in values)
    assert sum(values) == 2 * 10**15 + 5 and len(values) == 3
    assert fake.totals(await _stripe_id(sessions, acme)) == {_hour(hours_ago(2)): 2 * 10**15 + 5}


async def test_usage_older_than_stripe_accepts_is_never_sent_and_is_shown_as_expired(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme")
    await use(sessions, acme, hours_ago(36 * 24), 70, "ancient")  # past Stripe's 35 days: never planned
    await use(sessions, acme, hours_ago(2), 30, "recent")
    fake.throttle("/v2/billing/meter_event_stream", 1000)  # Stripe refuses everything for a while
    with pytest.raises(StripeUnavailable):
        await sync(sessions, stripe_api)
    fake.throttle("/v2/billing/meter_event_stream", 0)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=35)  # the recent hour aged out while unsent
    report = await sync(sessions, stripe_api, now=later)

    assert (report.expired, report.sent) == (1, 0)
    assert fake.received == [] and [row.status for row in await _rows(sessions)] == ["expired"]
    async with sessions() as session:
        (status,) = await billing_status(session, now=later)
    assert (status.expired_micros, status.pending_micros, status.last_synced_at) == (30, 0, None)


def test_an_amount_is_split_into_parts_stripe_takes() -> None:
    assert meter_plan.split(5) == [5]
    assert meter_plan.split(meter_plan.MAX_VALUE) == [meter_plan.MAX_VALUE]
    assert meter_plan.split(meter_plan.MAX_VALUE * 2 + 1) == [meter_plan.MAX_VALUE, meter_plan.MAX_VALUE, 1]
