"""The Stripe calls Tollgate makes, through Stripe's own SDK, with backoff when Stripe says 429.

Usage goes to the v2 meter event stream: up to 100 events a request (v1 takes one), 10,000 events a
second, authenticated by a meter event session that lasts 15 minutes. Everything else is v1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import stripe
from stripe import ListObject
from stripe.params.v2.billing import MeterEventStreamCreateParams

from billing.stripe_types import STREAM_BATCH, CheckoutLink, MeterEventOut, StripeUnavailable
from gateway.config.stripe import StripeSettings
from gateway.core.errors import Conflict

log = logging.getLogger("tollgate.billing")

T = TypeVar("T")
Item = TypeVar("Item", bound=stripe.StripeObject)

SUMMARY_PAGE = 100
# A session is renewed this long before Stripe says it expires, so no request carries a stale one.
SESSION_MARGIN = dt.timedelta(seconds=60)


class StripeApi:
    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        self._http = stripe.AIOHTTPClient(timeout=settings.request_timeout_seconds)
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base, "meter_events": settings.meter_events_base},
            http_client=self._http,
            max_network_retries=2,  # connection errors and 5xx, with the same Idempotency-Key
        )
        self._session: tuple[str, dt.datetime] | None = None
        self._meter_id: str | None = None

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def create_customer(self, customer_id: int, name: str) -> str:
        """A Stripe customer for a Tollgate one. The idempotency key makes a retry within Stripe's
        24 hours return the customer already made instead of a second one."""
        params: stripe.params.CustomerCreateParams = {
            "name": name,
            "metadata": {"tollgate_customer_id": str(customer_id)},
        }
        key = f"{self.settings.identifier_prefix}-customer-{customer_id}"
        created = await self._call(lambda: self.client.v1.customers.create_async(params, {"idempotency_key": key}))
        return created.id

    async def meter_id(self) -> str:
        """The active meter with our event name, created (summing, by customer id, hourly) if missing."""
        if self._meter_id is not None:
            return self._meter_id
        name = self.settings.meter_event_name
        meters = self.client.v1.billing.meters
        for meter in await self._every(lambda: meters.list_async({"status": "active", "limit": 100})):
            if meter.event_name == name:
                self._meter_id = meter.id
                return meter.id
        params: stripe.params.billing.MeterCreateParams = {
            "display_name": "Tollgate usage (micro-dollars)",
            "event_name": name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
            "event_time_window": "hour",  # our events are already summed per hour
        }
        key = f"{self.settings.identifier_prefix}-meter-{name}"
        meter = await self._call(lambda: self.client.v1.billing.meters.create_async(params, {"idempotency_key": key}))
        self._meter_id = meter.id
        return meter.id

    async def send_meter_events(self, events: Sequence[MeterEventOut]) -> None:
        """Send one batch (at most :data:`STREAM_BATCH`). Stripe validates asynchronously: a 200 means
        accepted, and an identifier seen in the last 24 hours is dropped, not counted again."""
        if len(events) > STREAM_BATCH:
            raise ValueError(f"at most {STREAM_BATCH} events a request")
        body: MeterEventStreamCreateParams = {
            "events": [
                {
                    "event_name": self.settings.meter_event_name,
                    "identifier": event.identifier,
                    "timestamp": event.timestamp.isoformat().replace("+00:00", "Z"),
                    "payload": {"stripe_customer_id": event.stripe_customer_id, "value": str(event.value)},
                }
                for event in events
            ]
        }
        for attempt in range(2):
            try:
                await self._stream(body, await self._session_token())
                return
            except StripeUnavailable as exc:
                if attempt or exc.stripe_status != 401:
                    raise
                self._session = None  # expired early (or was revoked): one more try with a new one

    async def _stream(self, body: MeterEventStreamCreateParams, token: str) -> None:
        options: stripe.RequestOptions = {"api_key": token}
        await self._call(lambda: self.client.v2.billing.meter_event_stream.create_async(body, options))

    async def event_summaries(self, stripe_customer_id: str, start: dt.datetime, end: dt.datetime) -> dict[int, int]:
        """What Stripe has aggregated for the customer, by hour (epoch seconds) in ``[start, end)``;
        hours on the hour. Summaries are eventually consistent: the newest events may be missing."""
        meter = await self.meter_id()
        params: stripe.params.billing.MeterListEventSummariesParams = {
            "customer": stripe_customer_id,
            "start_time": int(start.timestamp()),
            "end_time": int(end.timestamp()),
            "value_grouping_window": "hour",
            "limit": SUMMARY_PAGE,
        }
        summaries = self.client.v1.billing.meters.event_summaries
        found: dict[int, int] = {}
        for summary in await self._every(lambda: summaries.list_async(meter, params)):
            found[summary.start_time] = found.get(summary.start_time, 0) + round(summary.aggregated_value)
        return found

    async def create_checkout(
        self, *, stripe_customer_id: str, customer_id: int, cents: int, success_url: str, cancel_url: str, key: str
    ) -> CheckoutLink:
        """A hosted Checkout page that charges ``cents`` US cents once, as Tollgate credit."""
        metadata = {"tollgate_customer_id": str(customer_id), "tollgate_credit_cents": str(cents)}
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "payment",
            "customer": stripe_customer_id,
            "client_reference_id": str(customer_id),
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": cents,
                        "product_data": {"name": "Tollgate prepaid credit"},
                    },
                    "quantity": 1,
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        options: stripe.RequestOptions = {"idempotency_key": key}
        made = await self._call(lambda: self.client.v1.checkout.sessions.create_async(params, options))
        if made.url is None:
            raise StripeUnavailable("Stripe made a Checkout Session without a URL.")
        return CheckoutLink(made.id, made.url, dt.datetime.fromtimestamp(made.expires_at, dt.UTC))

    async def _session_token(self) -> str:
        now = dt.datetime.now(dt.UTC)
        if self._session is None or self._session[1] - SESSION_MARGIN <= now:
            made = await self._call(lambda: self.client.v2.billing.meter_event_session.create_async())
            expires = dt.datetime.fromisoformat(made.expires_at.replace("Z", "+00:00"))
            self._session = (made.authentication_token, expires)
        return self._session[0]

    async def _every(self, first: Callable[[], Awaitable[ListObject[Item]]]) -> list[Item]:
        """Every object of a list, page by page, each page through :meth:`_call` (so backing off too)."""
        page = await self._call(first)
        found = list(page.data)
        while page.has_more:
            page = await self._call(_next_page(page))
            found.extend(page.data)
        return found

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, waited out while Stripe answers 429 (doubling the wait, up to the configured
        total). An idempotency key reused with other parameters is a :class:`Conflict`; any other
        Stripe error, or a 429 that lasts, becomes :class:`StripeUnavailable`."""
        delay, waited = self.settings.rate_limit_backoff_seconds, 0.0
        while True:
            try:
                return await call()
            except stripe.RateLimitError as exc:
                if waited + delay > self.settings.rate_limit_max_wait_seconds:
                    raise _unavailable(exc) from exc
                log.info("Stripe rate-limited a request; retrying in %.2f s", delay)
                await asyncio.sleep(delay)
                waited += delay
                delay *= 2
            except stripe.IdempotencyError as exc:  # a caller's reference reused for another request
                raise Conflict(f"Stripe: {exc.user_message or exc}", param="reference") from exc
            except stripe.StripeError as exc:
                raise _unavailable(exc) from exc


def _next_page(page: ListObject[Item]) -> Callable[[], Awaitable[ListObject[Item]]]:
    return lambda: page.next_page_async()


def _unavailable(exc: stripe.StripeError) -> StripeUnavailable:
    return StripeUnavailable(f"Stripe: {exc.user_message or exc}", stripe_status=exc.http_status, code=exc.code)
