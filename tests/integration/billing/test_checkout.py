"""Checkout Sessions for top-ups: Stripe's form encoding, its idempotency keys, and amounts it takes."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from billing.checkout import create_checkout
from billing.stripe_api import StripeApi
from gateway.core.errors import Conflict, InvalidRequest
from tests.fakes.stripe_server import FakeStripe
from tests.integration.billing.conftest import Sessions, add_customer


async def test_a_top_up_page_charges_the_amount_once_per_reference(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str]
) -> None:
    fake = fake_stripe[0]
    acme = await add_customer(sessions, "acme", prepaid=True)

    first = await create_checkout(sessions, stripe_api, "acme", 5000, reference="order-7")
    again = await create_checkout(sessions, stripe_api, "acme", 5000, reference="order-7")
    with pytest.raises(Conflict) as reused:
        await create_checkout(sessions, stripe_api, "acme", 6000, reference="order-7")

    assert first == again and list(fake.checkouts) == [first.checkout_session]
    assert first.url == f"https://checkout.stripe.com/c/pay/{first.checkout_session}"
    assert "can only be used with the same parameters" in reused.value.message
    sent = parse_qs(next(body for method, path, _, body in fake.requests if path == "/v1/checkout/sessions"))
    stripe_customer = fake.checkouts[first.checkout_session]["customer"]
    assert sent["customer"] == [stripe_customer] and sent["mode"] == ["payment"]
    assert sent["line_items[0][price_data][unit_amount]"] == ["5000"]
    assert sent["line_items[0][price_data][currency]"] == ["usd"]
    assert sent["metadata[tollgate_customer_id]"] == [str(acme.id)]
    assert fake.customers[stripe_customer]["metadata"] == {"tollgate_customer_id": str(acme.id)}


@pytest.mark.parametrize("cents", [0, 49, 100_000_000])
async def test_amounts_stripe_would_refuse_are_refused_before_calling_it(
    sessions: Sessions, stripe_api: StripeApi, fake_stripe: tuple[FakeStripe, str], cents: int
) -> None:
    await add_customer(sessions, "acme", prepaid=True)
    with pytest.raises(InvalidRequest) as refused:
        await create_checkout(sessions, stripe_api, "acme", cents)
    assert refused.value.param == "usd" and fake_stripe[0].requests == []
