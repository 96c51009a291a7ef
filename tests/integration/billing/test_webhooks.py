"""Stripe's webhooks credit a paid Checkout Session exactly once, however often and in whatever order
its events arrive; a delivery Stripe did not sign changes nothing. SQLite and Postgres."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from billing import webhooks
from billing.checkout import create_checkout
from billing.stripe_api import StripeApi
from gateway.core.errors import InvalidRequest
from gateway.customers import credit_ledger as credits
from gateway.db.models import CreditEntry, StripeWebhookEvent
from tests.fakes.stripe_server import WEBHOOK_SECRET, FakeStripe
from tests.integration.billing.conftest import Sessions, add_customer


async def _deliver(sessions: Sessions, fake: FakeStripe, payload: bytes) -> webhooks.WebhookResult:
    return await webhooks.receive(sessions, payload, fake.sign(payload), WEBHOOK_SECRET)


async def _checkout(sessions: Sessions, api: StripeApi, cents: int = 2500) -> str:
    made = await create_checkout(sessions, api, "acme", cents)
    return made.checkout_session


async def _balance(sessions: Sessions, customer_id: int) -> int:
    async with sessions() as session:
        return await credits.balance(session, customer_id)


async def test_a_redelivered_event_credits_once(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme", prepaid=True)
    paid = fake.event("checkout.session.completed", fake.complete(await _checkout(sessions, stripe_api)))

    first = await _deliver(sessions, fake, paid)
    second = await _deliver(sessions, fake, paid)

    assert (first.duplicate, first.credited_micros) == (False, 25_000_000)
    assert (second.duplicate, second.credited_micros, second.outcome) == (True, 0, first.outcome)
    assert await _balance(sessions, acme.id) == 25_000_000


@pytest.mark.parametrize(
    "order",
    [
        ["completed:unpaid", "async_payment_succeeded"],
        ["async_payment_succeeded", "completed:unpaid"],  # reordered
        ["completed:paid", "async_payment_succeeded", "completed:paid"],  # different events, one payment
        ["async_payment_succeeded", "async_payment_succeeded", "completed:unpaid"],
    ],
)
async def test_a_payment_is_credited_once_whatever_the_order_of_its_events(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str], order: list[str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme", prepaid=True)
    checkout = await _checkout(sessions, stripe_api, cents=1999)
    unpaid, paid = fake.complete(checkout, "unpaid"), fake.complete(checkout, "paid")
    bodies: dict[str, dict[str, Any]] = {"completed:unpaid": unpaid, "completed:paid": paid}
    events = {name: fake.event(f"checkout.session.{name.split(':')[0]}", bodies.get(name, paid)) for name in set(order)}

    results = [await _deliver(sessions, fake, events[name]) for name in order]

    assert sum(result.credited_micros for result in results) == 19_990_000
    assert await _balance(sessions, acme.id) == 19_990_000
    async with sessions() as session:
        entries = (await session.execute(select(CreditEntry.reference))).scalars().all()
    assert entries == [f"stripe:{checkout}"]


async def test_a_failed_asynchronous_payment_credits_nothing(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme", prepaid=True)
    checkout = await _checkout(sessions, stripe_api)
    started = fake.complete(checkout, "unpaid")

    outcomes = [
        (await _deliver(sessions, fake, fake.event(kind, started))).outcome
        for kind in ("checkout.session.completed", "checkout.session.async_payment_failed")
    ]

    assert await _balance(sessions, acme.id) == 0
    assert outcomes == ["not paid yet (payment_status=unpaid): nothing credited", "payment failed: nothing credited"]


def _forged(fake: FakeStripe, payload: bytes) -> list[str | None]:
    signed = fake.sign(payload)
    return [
        None,
        "",
        fake.sign(payload, secret="whsec_someone_else"),
        fake.sign(payload, at=int(time.time()) - 600),  # a replay of an old delivery
        fake.sign(payload, at=int(time.time()) + 600),  # dated ahead: the SDK checks only the past
        signed.replace("v1=", "v0="),
        "t=notanumber,v1=abc",
    ]


async def test_a_delivery_stripe_did_not_sign_is_refused_and_changes_nothing(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    await add_customer(sessions, "acme", prepaid=True)
    payload = fake.event("checkout.session.completed", fake.complete(await _checkout(sessions, stripe_api)))
    tampered = payload.replace(b'"amount_total": 2500', b'"amount_total": 9999999')
    attempts = [(payload, signature) for signature in _forged(fake, payload)]
    attempts.append((tampered, fake.sign(payload)))

    for body, signature in attempts:
        with pytest.raises(InvalidRequest) as refused:
            await webhooks.receive(sessions, body, signature, WEBHOOK_SECRET)
        assert refused.value.code == "invalid_signature"

    async with sessions() as session:
        counts = [await session.scalar(select(func.count()).select_from(t)) for t in (CreditEntry, StripeWebhookEvent)]
    assert counts == [0, 0]


@pytest.mark.parametrize(
    "payload",
    [b'{"id": "evt_1", "type": "x\xff"}', b"\xc3\x28", b'{"id": "\xed\xa0\x80"}'],
    ids=["latin-1 byte", "bad continuation", "surrogate"],
)
async def test_a_body_that_is_not_utf8_is_a_400_and_changes_nothing(sessions: Sessions, payload: bytes) -> None:
    """The SDK decoded such a body itself and raised UnicodeDecodeError: an unauthenticated 500."""
    with pytest.raises(InvalidRequest) as refused:
        await webhooks.receive(sessions, payload, "t=1,v1=00", WEBHOOK_SECRET)
    assert (refused.value.http_status, refused.value.code) == (400, "invalid_event")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StripeWebhookEvent)) == 0


async def test_a_top_up_reference_that_is_no_customer_id_credits_nothing(
    sessions: Sessions, fake_stripe: tuple[FakeStripe, str]
) -> None:
    """Another product's reference such as ``²`` or 5,000 digits raised in ``int()`` (or overflowed the
    id column) and Stripe would have retried it for days."""
    fake = fake_stripe[0]
    await add_customer(sessions, "acme", prepaid=True)
    for number, reference in enumerate(["²", "9" * 5000, str(2**40), "١"]):
        paid = {"id": f"cs_test_odd{number}", "object": "checkout.session", "payment_status": "paid"}
        paid |= {"amount_total": 500, "currency": "usd", "metadata": {}, "client_reference_id": reference}
        result = await _deliver(sessions, fake, fake.event("checkout.session.completed", paid))
        assert result.credited_micros == 0 and result.outcome.startswith("not a Tollgate top-up")


async def test_events_of_other_kinds_or_other_products_are_recorded_and_credit_nothing(
    sessions: Sessions, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    await add_customer(sessions, "acme", prepaid=True)
    foreign = {"id": "cs_test_foreign", "object": "checkout.session", "payment_status": "paid", "amount_total": 500}
    foreign |= {"currency": "usd", "metadata": {}, "client_reference_id": None}

    results = [
        await _deliver(sessions, fake, fake.event("invoice.paid", {"id": "in_1", "object": "invoice"})),
        await _deliver(sessions, fake, fake.event("checkout.session.completed", foreign)),
    ]

    assert [r.credited_micros for r in results] == [0, 0]
    assert results[1].outcome == "not a Tollgate top-up (customer reference None)"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StripeWebhookEvent)) == 2
