"""Billing routes: Stripe's webhook (public, verified by its signature) and the admin's billing API
(:data:`ADMIN_ROUTES`, mounted under ``/admin`` behind the admin token by ``gateway/app.py``)."""

from __future__ import annotations

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import webhooks
from billing.job import BillingJob
from gateway.billing_api import service
from gateway.billing_api.wire import CheckoutCreate, ReconcileQuery, WebhookReceived
from gateway.core.errors import PermissionDenied
from gateway.edge.errors import HttpRequest
from gateway.edge.json_io import NoQuery, json_body, json_response
from gateway.protocol.decoding import validate, validate_query
from gateway.settings import Settings


@post("/stripe/webhook", status_code=200)
async def stripe_webhook(
    request: HttpRequest,
    settings: NamedDependency[Settings],
    sessions: NamedDependency[async_sessionmaker[AsyncSession]],
) -> Response[bytes]:
    """200 once the event is handled (or had been); 400 for a bad signature, which changes nothing.
    Any other failure answers 500, and Stripe delivers the event again later."""
    secret = settings.stripe.webhook_secret if settings.stripe else None
    if not secret:
        raise PermissionDenied(
            "Stripe webhooks are off: set stripe.webhook_secret in the config.", code="stripe_not_configured"
        )
    payload = await request.body()
    result = await webhooks.receive(sessions, payload, request.headers.get("stripe-signature"), secret)
    body = WebhookReceived(event=result.event_id, type=result.type, duplicate=result.duplicate, outcome=result.outcome)
    return json_response(request, body)


@post("/customers/{name:str}/checkout")
async def create_checkout(
    request: HttpRequest, name: FromPath[str], billing_job: NamedDependency[BillingJob | None]
) -> Response[bytes]:
    """A Stripe Checkout page for a top-up; the credit is added when Stripe's webhook says it is paid."""
    body = validate(await json_body(request), CheckoutCreate)
    job = service.require_billing(billing_job)
    return json_response(request, await service.checkout(job, name, body), 201)


@get("/billing")
async def billing_status(
    request: HttpRequest, sessions: NamedDependency[async_sessionmaker[AsyncSession]]
) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return json_response(request, await service.status(sessions))


@get("/billing/reconcile")
async def reconcile(request: HttpRequest, billing_job: NamedDependency[BillingJob | None]) -> Response[bytes]:
    query = validate_query(request.query_params, ReconcileQuery)
    job = service.require_billing(billing_job)
    return json_response(request, await service.reconciliation(job, query))


ROUTES = [stripe_webhook]
ADMIN_ROUTES = [create_checkout, billing_status, reconcile]
