"""Top-ups through Stripe Checkout: a hosted payment page whose payment the webhook turns into credit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import linking
from gateway.core.errors import InvalidRequest
from gateway.customers import repository as customers

if TYPE_CHECKING:
    from billing.stripe_api import StripeApi

# Stripe's bounds on a US-dollar charge.
MIN_CENTS = 50
MAX_CENTS = 99_999_999


@dataclass(frozen=True, slots=True)
class CheckoutCreated:
    customer: str
    checkout_session: str
    url: str
    cents: int
    expires_at: dt.datetime


async def create_checkout(
    sessions: async_sessionmaker[AsyncSession],
    api: StripeApi,
    customer_name: str,
    cents: int,
    *,
    success_url: str | None = None,
    cancel_url: str | None = None,
    reference: str | None = None,
) -> CheckoutCreated:
    """A Checkout Session paying ``cents`` into the customer's credit. The same ``reference`` within
    Stripe's 24 hours answers the same session (Stripe's ``Idempotency-Key``)."""
    if not MIN_CENTS <= cents <= MAX_CENTS:
        raise InvalidRequest(
            f"A top-up through Stripe must be between $0.50 and $999,999.99, not {cents} cents.", param="usd"
        )
    async with sessions() as session:
        customer = await customers.require(session, customer_name, param="name")
        stripe_customer_id = customer.stripe_customer_id
    if stripe_customer_id is None:
        stripe_customer_id = await linking.link(sessions, api, customer.id, customer.name)
    settings = api.settings
    key = f"{settings.identifier_prefix}-checkout-{customer.id}-{reference or uuid.uuid4().hex}"
    link = await api.create_checkout(
        stripe_customer_id=stripe_customer_id,
        customer_id=customer.id,
        cents=cents,
        success_url=success_url or settings.checkout_success_url,
        cancel_url=cancel_url or settings.checkout_cancel_url,
        key=key,
    )
    return CheckoutCreated(customer.name, link.id, link.url, cents, link.expires_at)
