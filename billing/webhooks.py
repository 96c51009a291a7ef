"""Stripe's webhooks: a paid Checkout Session becomes prepaid credit, exactly once.

Stripe delivers at least once and in no particular order. Each event is handled in one transaction
that first records its id (a redelivery finds it and changes nothing), and a session's credit has
the ledger reference ``stripe:<checkout session id>``, so the events that may each announce the
same payment (``checkout.session.completed`` with ``payment_status=paid``, or
``checkout.session.async_payment_succeeded`` after a ``completed`` with ``unpaid``, in either
order) credit it once between them. Admission learns of the credit by polling the ledger.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import InvalidRequest
from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.db.inserts import insert_for
from gateway.db.models import StripeWebhookEvent
from gateway.db.models.base import utcnow

# Stripe signs ``t=<unix time>,v1=<HMAC>``; older signatures are refused, which stops replays.
TOLERANCE_SECONDS = 300
MICROS_PER_CENT = 10_000
CUSTOMER_ID_MAX = 2**31 - 1  # customers.id is an Integer column
PAID = ("paid", "no_payment_required")


class CheckoutSession(msgspec.Struct):
    """The fields of a ``checkout.session`` that crediting reads."""

    id: str
    payment_status: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] | None = None


class EventData(msgspec.Struct):
    object: msgspec.Raw


class Event(msgspec.Struct):
    id: str
    type: str
    created: int
    data: EventData


@dataclass(frozen=True, slots=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: str
    duplicate: bool  # the event had been handled before: nothing changed now
    credited_micros: int  # added to the ledger by this delivery


def verify(payload: bytes, signature: str | None, secret: str) -> Event:
    """The event, if Stripe signed ``payload`` with ``secret`` in the last five minutes."""
    import stripe  # here, not at the top: the SDK is slow to import and only this endpoint needs it

    try:
        text = payload.decode()  # Stripe signs text; the SDK would raise on other bytes
    except UnicodeDecodeError:
        raise InvalidRequest("A Stripe event is UTF-8 JSON; this body is not.", code="invalid_event") from None
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise _unsigned(exc.user_message or str(exc)) from None
    if _signed_at(signature or "") > time.time() + TOLERANCE_SECONDS:  # the SDK checks the past only
        raise _unsigned("its timestamp is in the future")
    try:
        return msgspec.json.decode(payload, type=Event)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
        raise InvalidRequest(f"Not a Stripe event: {exc}", code="invalid_event") from None


def _unsigned(reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"The Stripe-Signature header does not verify: {reason}", param="Stripe-Signature", code="invalid_signature"
    )


def _signed_at(signature: str) -> int:
    """The ``t=`` of a header the SDK has verified (so it is there and an integer)."""
    items = [part.split("=", 2) for part in signature.split(",")]  # parsed as the SDK parses it
    return int(next(item[1] for item in items if item[0] == "t"))


async def receive(
    sessions: async_sessionmaker[AsyncSession], payload: bytes, signature: str | None, secret: str
) -> WebhookResult:
    """Verify and handle one delivery; a bad signature raises :class:`InvalidRequest` and changes nothing."""
    event = verify(payload, signature, secret)
    async with sessions.begin() as session:
        if not await _record(session, event):
            outcome = await session.scalar(select(StripeWebhookEvent.outcome).where(StripeWebhookEvent.id == event.id))
            return WebhookResult(event.id, event.type, outcome or "", duplicate=True, credited_micros=0)
        outcome, credited, checkout = await _handle(session, event)
        await session.execute(
            update(StripeWebhookEvent)
            .where(StripeWebhookEvent.id == event.id)
            .values(outcome=outcome[:200], checkout_session=checkout)
        )
    return WebhookResult(event.id, event.type, outcome, duplicate=False, credited_micros=credited)


async def _record(session: AsyncSession, event: Event) -> bool:
    """Claim the event id; False when it was claimed before (this delivery is a duplicate)."""
    insert = insert_for(session)
    row = {
        "id": event.id,
        "type": event.type[:100],
        "created": dt.datetime.fromtimestamp(event.created, dt.UTC),
        "received_at": utcnow(),
        "outcome": "handling",
    }
    statement = (
        insert(StripeWebhookEvent)
        .values(row)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeWebhookEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _handle(session: AsyncSession, event: Event) -> tuple[str, int, str | None]:
    """(outcome, micro-dollars credited, checkout session id) of a newly received event."""
    if not event.type.startswith("checkout.session."):
        return "ignored: not a Checkout event", 0, None
    checkout = msgspec.json.decode(event.data.object, type=CheckoutSession)
    if event.type == "checkout.session.async_payment_failed":
        return "payment failed: nothing credited", 0, checkout.id
    paid = event.type == "checkout.session.async_payment_succeeded" or (
        event.type == "checkout.session.completed" and checkout.payment_status in PAID
    )
    if not paid:
        return f"not paid yet (payment_status={checkout.payment_status}): nothing credited", 0, checkout.id
    outcome, credited = await _credit(session, checkout)
    return outcome, credited, checkout.id


def _customer_id(reference: str | None) -> int | None:
    """The customer id a Tollgate top-up names; another product's reference (``²``, 5,000 digits) names none."""
    if not reference or not reference.isascii() or not reference.isdigit() or len(reference) > 10:
        return None
    return int(reference) if int(reference) <= CUSTOMER_ID_MAX else None


async def _credit(session: AsyncSession, checkout: CheckoutSession) -> tuple[str, int]:
    reference = (checkout.metadata or {}).get("tollgate_customer_id") or checkout.client_reference_id
    customer_id = _customer_id(reference)
    customer = None if customer_id is None else await customers.get(session, customer_id)
    if customer is None:
        return f"not a Tollgate top-up (customer reference {reference!r})", 0
    if checkout.currency != "usd" or not checkout.amount_total:
        return f"nothing to credit ({checkout.amount_total} {checkout.currency})", 0
    micros = checkout.amount_total * MICROS_PER_CENT
    note = f"Stripe Checkout {checkout.id}"
    entry, created = await credits.add(session, customer, micros, "stripe", f"stripe:{checkout.id}", note)
    if not created:
        return f"already credited (ledger entry {entry.id})", 0
    return f"credited {micros} micro-dollars (ledger entry {entry.id})", micros
