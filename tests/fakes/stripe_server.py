"""A local fake of the parts of Stripe's API that Tollgate uses, speaking Stripe's real wire format.

v1 (form-encoded): ``POST /v1/customers``, ``GET|POST /v1/billing/meters``,
``GET /v1/billing/meters/{id}/event_summaries``, ``POST /v1/checkout/sessions``. v2 (JSON):
``POST /v2/billing/meter_event_session`` and, with the session's token,
``POST /v2/billing/meter_event_stream``.

Rules kept: Bearer API keys; ``Idempotency-Key`` replays a successful POST with the same
parameters (``Idempotent-Replayed: true``) and refuses another endpoint or other parameters with
an ``idempotency_error`` (a refused request saves no result: Stripe's validation and rate limits
act before its idempotency layer saves one); session tokens expire after 15 minutes (401
``billing_meter_event_session_expired``); at most 100 events a stream request; events are validated
after acceptance, as Stripe does: an unknown meter or customer, a timestamp outside 35 days back to
5 minutes ahead, or a value that is not a number lands in ``rejected``, and an identifier seen in
the last 24 hours is dropped (``duplicates``), never counted again.

Faults for tests: :meth:`FakeStripe.throttle` answers 429 to the next requests on a path;
``stall_stream`` makes the stream accept events and then never answer (a client killed while
waiting has delivered them); :meth:`expire_sessions` ends every session; :meth:`lose` forgets an
accepted event (a planted difference for reconciliation).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import stripe
from aiohttp import web

from tests.fakes.stripe_wire import StripeFault, as_int, decode_form, invalid, no_such, page, require

API_KEY = "sk_test_tollgate_fake"
WEBHOOK_SECRET = "whsec_tollgate_fake"
SESSION_TTL = dt.timedelta(minutes=15)
MAX_AGE = dt.timedelta(days=35)
DEDUP_WINDOW = dt.timedelta(hours=24)
PARAMS = web.RequestKey("params", dict)
DEFAULT_MAPPING = {"event_payload_key": "stripe_customer_id", "type": "by_id"}


@dataclass
class FakeStripe:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    meters: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dt.datetime] = field(default_factory=dict)  # session token -> expiry
    received: list[dict[str, Any]] = field(default_factory=list)  # every streamed event, as sent
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by identifier
    duplicates: list[str] = field(default_factory=list)
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)  # method, path, content type, body
    throttled: dict[str, int] = field(default_factory=dict)  # path -> 429s still to answer
    served_429: int = 0
    stall_stream: bool = False
    _idempotent: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)  # path, params hash, body
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def throttle(self, path: str, times: int) -> None:
        self.throttled[path] = times

    def expire_sessions(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    def lose(self, identifier: str) -> None:
        del self.accepted[identifier]

    def totals(self, customer: str) -> dict[dt.datetime, int]:
        """What the meter sums for a Stripe customer, by event timestamp."""
        found: dict[dt.datetime, int] = {}
        for event in self.accepted.values():
            if event["payload"]["stripe_customer_id"] == customer:
                at = _parse_time(event["timestamp"])
                found[at] = found.get(at, 0) + int(event["payload"]["value"])
        return found

    def complete(self, checkout_id: str, payment_status: str = "paid") -> dict[str, Any]:
        """The customer finished paying (or started an asynchronous payment): the session as it is now."""
        session = self.checkouts[checkout_id]
        session.update(status="complete", payment_status=payment_status, payment_intent=self._id("pi"))
        return dict(session)

    def event(self, kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        """A webhook body as Stripe sends it."""
        body = {
            "id": event_id or self._id("evt"),
            "object": "event",
            "api_version": "2025-10-29.clover",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        return json.dumps(body).encode()

    @staticmethod
    def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
        header: str = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, at)
        return header

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    def meter_named(self, event_name: str) -> dict[str, Any] | None:
        return next(
            (m for m in self.meters.values() if m["event_name"] == event_name and m["status"] == "active"), None
        )


def build_app(fake: FakeStripe) -> web.Application:
    handlers = _Handlers(fake)
    app = web.Application(middlewares=[handlers.middleware])
    app.router.add_post("/v1/customers", handlers.create_customer)
    app.router.add_get("/v1/billing/meters", handlers.list_meters)
    app.router.add_post("/v1/billing/meters", handlers.create_meter)
    app.router.add_get("/v1/billing/meters/{id}/event_summaries", handlers.event_summaries)
    app.router.add_post("/v1/checkout/sessions", handlers.create_checkout)
    app.router.add_post("/v2/billing/meter_event_session", handlers.create_session)
    app.router.add_post("/v2/billing/meter_event_stream", handlers.stream)
    return app


class _Handlers:
    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fake = self.fake
        body = await request.text()
        fake.requests.append((request.method, request.path, request.content_type, body or request.query_string))
        try:
            if fake.throttled.get(request.path, 0) > 0:
                fake.throttled[request.path] -= 1
                fake.served_429 += 1
                raise StripeFault(429, "Request rate limit exceeded.", code="rate_limit")
            if request.path != "/v2/billing/meter_event_stream":
                self._authenticate(request)
            params = _params(request, body)
            request[PARAMS] = params
            return await self._idempotent(request, params, handler)
        except StripeFault as fault:
            return fault.response()

    def _authenticate(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            raise StripeFault(401, "Invalid API Key provided: sk_test_****")

    async def _idempotent(self, request: web.Request, params: dict[str, Any], handler: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)  # type: ignore[no-any-return]
        fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        seen = self.fake._idempotent.get(key)
        if seen is not None:
            if seen[0] != request.path:
                raise _idempotency_error(
                    f"Keys for idempotent requests can only be used for the same endpoint they were first used"
                    f" for ('{request.path}' vs '{seen[0]}').",
                    key,
                )
            if seen[1] != fingerprint:
                raise _idempotency_error(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    key,
                )
            return web.json_response(seen[2], headers={"Idempotent-Replayed": "true"})
        response = await handler(request)
        if isinstance(response, web.Response) and 200 <= response.status < 300 and response.text:
            self.fake._idempotent[key] = (request.path, fingerprint, json.loads(response.text))
        return response  # type: ignore[no-any-return]

    async def create_customer(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        customer = {
            "id": self.fake._id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email"),
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "name": params.get("name"),
        }
        self.fake.customers[customer["id"]] = customer
        return web.json_response(customer)

    async def list_meters(self, request: web.Request) -> web.Response:
        status = request[PARAMS].get("status")
        meters = [m for m in self.fake.meters.values() if status in (None, m["status"])]
        return web.json_response(page(meters, request[PARAMS], "/v1/billing/meters"))

    async def create_meter(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        require(params, "display_name", "event_name", "default_aggregation.formula")
        if self.fake.meter_named(params["event_name"]) is not None:
            raise invalid("event_name", f"An active meter with event_name {params['event_name']} already exists.")
        now = int(time.time())
        meter = {
            "id": self.fake._id("mtr"),
            "object": "billing.meter",
            "created": now,
            "customer_mapping": params.get(
                "customer_mapping", {"event_payload_key": "stripe_customer_id", "type": "by_id"}
            ),
            "default_aggregation": params["default_aggregation"],
            "display_name": params["display_name"],
            "event_name": params["event_name"],
            "event_time_window": params.get("event_time_window"),
            "livemode": False,
            "status": "active",
            "status_transitions": {"deactivated_at": None},
            "updated": now,
            "value_settings": params.get("value_settings", {"event_payload_key": "value"}),
        }
        self.fake.meters[meter["id"]] = meter
        return web.json_response(meter)

    async def event_summaries(self, request: web.Request) -> web.Response:
        params, meter_id = request[PARAMS], request.match_info["id"]
        meter = self.fake.meters.get(meter_id)
        if meter is None:
            raise no_such("billing.meter", meter_id)
        require(params, "customer")
        start, end = as_int(params, "start_time"), as_int(params, "end_time")
        window = {"hour": 3600, "day": 86400}.get(params.get("value_grouping_window", ""), end - start)
        for name, value in (("start_time", start), ("end_time", end)):
            if value % 60 or (value % window and params.get("value_grouping_window")):
                raise invalid(name, f"{name} must be aligned with the value_grouping_window boundaries.")
        sums: dict[int, float] = {}
        for event in self.fake.accepted.values():
            at = int(_parse_time(event["timestamp"]).timestamp())
            mine = (
                event["event_name"] == meter["event_name"]
                and event["payload"]["stripe_customer_id"] == params["customer"]
            )
            if mine and start <= at < end:
                bucket = start + (at - start) // window * window
                sums[bucket] = sums.get(bucket, 0.0) + float(event["payload"]["value"])
        summaries = [
            {
                "id": f"mtrusg_{meter_id}_{bucket}",
                "object": "billing.meter_event_summary",
                "aggregated_value": total,
                "end_time": bucket + window,
                "livemode": False,
                "meter": meter_id,
                "start_time": bucket,
            }
            for bucket, total in sorted(sums.items())
        ]
        return web.json_response(page(summaries, params, f"/v1/billing/meters/{meter_id}/event_summaries"))

    async def create_checkout(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        require(params, "mode", "success_url")
        if params["mode"] != "payment":
            raise invalid("mode", "This fake only makes payment-mode sessions.")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise invalid("line_items", "You must specify `line_items` in `payment` mode.")
        if params.get("customer") and params["customer"] not in self.fake.customers:
            raise no_such("customer", params["customer"])
        total = sum(int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)) for item in items)
        checkout_id, now = self.fake._id("cs"), int(time.time())
        session = {
            "id": checkout_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": items[0]["price_data"]["currency"],
            "customer": params.get("customer"),
            "expires_at": now + 86400,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{checkout_id}",
        }
        self.fake.checkouts[checkout_id] = session
        return web.json_response(session)

    async def create_session(self, request: web.Request) -> web.Response:
        now = dt.datetime.now(dt.UTC)
        token = self.fake._id("token")
        self.fake.tokens[token] = now + SESSION_TTL
        return web.json_response(
            {
                "id": self.fake._id("mes"),
                "object": "v2.billing.meter_event_session",
                "authentication_token": token,
                "created": _time(now),
                "expires_at": _time(now + SESSION_TTL),
                "livemode": False,
            }
        )

    async def stream(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        expires = self.fake.tokens.get(token)
        if expires is None or expires <= dt.datetime.now(dt.UTC):
            raise StripeFault(401, "The meter event session has expired.", code="billing_meter_event_session_expired")
        events = request[PARAMS].get("events")
        if not isinstance(events, list) or not 1 <= len(events) <= 100:
            raise invalid("events", "events must list between 1 and 100 meter events.")
        for event in events:
            self.fake.received.append(event)
            self._accept(event)
        if self.fake.stall_stream:
            await asyncio.sleep(3600)  # accepted, never answered: the client dies waiting
        return web.json_response({})

    def _accept(self, event: dict[str, Any]) -> None:
        """Stripe's asynchronous processing of one streamed event."""
        identifier = event.get("identifier") or self.fake._id("idmp")
        now = dt.datetime.now(dt.UTC)
        previous = self.fake.accepted.get(identifier)
        if previous is not None and now - previous["created"] < DEDUP_WINDOW:
            self.fake.duplicates.append(identifier)
            return
        problem = self._problem(event, now)
        if problem:
            self.fake.rejected.append((event, problem))
            return
        self.fake.accepted[identifier] = {**event, "identifier": identifier, "created": now}

    def _problem(self, event: dict[str, Any], now: dt.datetime) -> str | None:
        meter = self.fake.meter_named(event.get("event_name", ""))
        if meter is None:
            return "no_meter"
        payload = event.get("payload") or {}
        if payload.get(meter["customer_mapping"]["event_payload_key"]) not in self.fake.customers:
            return "customer_not_found"
        try:
            float(payload[meter["value_settings"]["event_payload_key"]])
        except (KeyError, ValueError):
            return "invalid_value"
        at = _parse_time(event["timestamp"]) if event.get("timestamp") else now
        if not now - MAX_AGE <= at <= now + dt.timedelta(minutes=5):
            return "timestamp_out_of_range"
        return None


def _idempotency_error(problem: str, key: str) -> StripeFault:
    message = f"{problem} Try using a key other than '{key}' if you meant to execute a different request."
    return StripeFault(400, message, kind="idempotency_error")


def _params(request: web.Request, body: str) -> dict[str, Any]:
    if request.path.startswith("/v2/"):
        if request.method == "POST" and request.content_type != "application/json":
            raise invalid("body", "v2 requests must be JSON.")
        return json.loads(body) if body else {}
    if request.method == "POST" and body and request.content_type != "application/x-www-form-urlencoded":
        raise invalid("body", "v1 requests must be form-encoded.")
    return decode_form(body if request.method == "POST" else request.query_string)


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _time(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
