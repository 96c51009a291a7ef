"""Billing routes: Stripe's webhook (public, verified by its signature) and the admin's billing API."""

from __future__ import annotations

from litestar import Response, Router, get, post
from litestar.handlers import HTTPRouteHandler

from billing import webhooks
from gateway.admin.common import NoQuery, json_body, json_response, require_admin
from gateway.billing_api import service as billing
from gateway.billing_api.wire import CheckoutCreate, ReconcileQuery, WebhookReceived
from gateway.core.errors import PermissionDenied
from gateway.dependencies import state_of
from gateway.edge.errors import HttpRequest
from gateway.protocol.decoding import validate, validate_query


@post("/stripe/webhook", status_code=200)
async def stripe_webhook(request: HttpRequest) -> Response[bytes]:
    """200 once the event is handled (or had been); 400 for a bad signature, which changes nothing.
    Any other failure answers 500, and Stripe delivers the event again later."""
    state = state_of(request)
    secret = state.settings.stripe.webhook_secret if state.settings.stripe else None
    if not secret:
        raise PermissionDenied(
            "Stripe webhooks are off: set stripe.webhook_secret in the config.", code="stripe_not_configured"
        )
    payload = await request.body()
    result = await webhooks.receive(state.sessions, payload, request.headers.get("stripe-signature"), secret)
    body = WebhookReceived(event=result.event_id, type=result.type, duplicate=result.duplicate, outcome=result.outcome)
    return json_response(request, body)


@post("/customers/{name:str}/checkout")
async def create_checkout(request: HttpRequest, name: str) -> Response[bytes]:
    """A Stripe Checkout page for a top-up; the credit is added when Stripe's webhook says it is paid."""
    body = validate(await json_body(request), CheckoutCreate)
    job = billing.require_billing(state_of(request).billing)
    return json_response(request, await billing.checkout(job, name, body), 201)


@get("/billing")
async def billing_status(request: HttpRequest) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return json_response(request, await billing.status(state_of(request).sessions))


@get("/billing/reconcile")
async def reconcile(request: HttpRequest) -> Response[bytes]:
    query = validate_query(request.query_params, ReconcileQuery)
    job = billing.require_billing(state_of(request).billing)
    return json_response(request, await billing.reconciliation(job, query))


ROUTES: list[HTTPRouteHandler | Router] = [
    stripe_webhook,
    Router(path="/admin", guards=[require_admin], route_handlers=[create_checkout, billing_status, reconcile]),
]
