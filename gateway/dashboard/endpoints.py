"""The admins' dashboard at ``/dashboard``: server-rendered pages drawn from the hourly rollups.

Every page but the sign-in form needs the session cookie (see ``dashboard_auth``); the pages'
numbers come from ``gateway.dashboard.usage``, ``health`` and ``admin``, which never read raw usage events.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from litestar import Router, get, post
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.template.config import TemplateConfig

import gateway.dashboard
from billing.status import billing_status
from gateway.admin.service import AdminService
from gateway.admin.wire import KeyCreate
from gateway.core.errors import TollgateError
from gateway.dashboard import admin as dashboard_admin
from gateway.dashboard import health as dashboard_health
from gateway.dashboard import rollouts as dashboard_rollouts
from gateway.dashboard import usage as dashboard_usage
from gateway.dashboard.charts import COLORS, plot
from gateway.dashboard.guards import (
    HOME,
    login,
    login_form,
    logout,
    page,
    require_session,
)
from gateway.dashboard.pages import Report
from gateway.dashboard.periods import RANGES, Periods, periods
from gateway.dashboard.repository import Dimension
from gateway.dependencies import state_of
from gateway.edge.errors import HttpRequest
from gateway.keys.terms import budget_text, limits_text
from gateway.protocol.decoding import validate_query


def _chart_helpers(engine: JinjaTemplateEngine) -> None:
    engine.engine.globals.update(plot=plot, colors=COLORS)


TEMPLATES = TemplateConfig(
    directory=Path(gateway.dashboard.__file__).parent / "templates",
    engine=JinjaTemplateEngine,
    engine_callback=_chart_helpers,
)
DIMENSIONS: tuple[Dimension, ...] = ("customer", "key", "model")
NAVIGATION = [
    ("usage", "Usage"),
    ("cache", "Cache"),
    ("latency", "Latency"),
    ("errors", "Errors"),
    ("customers", "Top customers"),
    ("billing", "Billing"),
    ("keys", "Keys"),
    ("rollouts", "Rollouts"),
]


def _periods(request: HttpRequest) -> Periods:
    return periods(request.query_params.get("range", ""), dt.datetime.now(dt.UTC))


def _report(request: HttpRequest, report: Report, chosen: Periods | None, **extra: Any) -> Template:
    context = {"title": report.title, "report": report, "nav": NAVIGATION, "ranges": list(RANGES), **extra}
    return page(request, "report.html", {**context, "range": None if chosen is None else chosen.name})


@get("/", sync_to_thread=False)
def home() -> Redirect:
    return Redirect(HOME, status_code=HTTP_303_SEE_OTHER)


@get("/usage")
async def usage(request: HttpRequest) -> Template:
    by = request.query_params.get("by", "customer")
    dimension: Dimension = next((d for d in DIMENSIONS if d == by), "customer")
    chosen = _periods(request)
    report = await dashboard_usage.usage_report(state_of(request).sessions, chosen, dimension)
    return _report(request, report, chosen, dimensions=DIMENSIONS, by=dimension)


@get("/cache")
async def cache(request: HttpRequest) -> Template:
    chosen = _periods(request)
    return _report(request, await dashboard_usage.cache_report(state_of(request).sessions, chosen), chosen)


@get("/customers")
async def top_customers(request: HttpRequest) -> Template:
    chosen = _periods(request)
    return _report(request, await dashboard_usage.customers_report(state_of(request).sessions, chosen), chosen)


@get("/latency")
async def latency(request: HttpRequest) -> Template:
    chosen = _periods(request)
    return _report(request, await dashboard_health.latency_report(state_of(request).sessions, chosen), chosen)


@get("/errors")
async def errors(request: HttpRequest) -> Template:
    chosen = _periods(request)
    return _report(request, await dashboard_health.errors_report(state_of(request).sessions, chosen), chosen)


@get("/billing")
async def billing(request: HttpRequest) -> Template:
    return _report(request, await dashboard_admin.billing_report(state_of(request).sessions, billing_status), None)


async def _keys(request: HttpRequest, status: int = 200, **shown: Any) -> Template:
    found = await dashboard_admin.keys_page(state_of(request).sessions)
    terms = {
        key.id: {
            "limits": limits_text(key.limits.rpm, key.limits.tpm, key.limits.max_concurrency),
            "budget": budget_text(key.limits.budget_micros, key.limits.budget_period),
        }
        for key in found.keys
    }
    context = {"title": "Keys", "nav": NAVIGATION, "keys": found.keys, "customers": found.customers, "terms": terms}
    return page(request, "keys.html", {"created": None, "error": None, **context, **shown}, status)


@get("/keys")
async def keys(request: HttpRequest) -> Template:
    return await _keys(request)


# The create form's fields: the key's customer and name, its limits, budget and expiry.
KEY_FORM_FIELDS = ("customer", "name", "rpm", "tpm", "max_concurrency", "budget_usd", "budget_period", "expires_at")


@post("/keys")
async def create_key(request: HttpRequest) -> Template:
    """Issue a key and show its secret in this answer only (never in a URL, never again)."""
    form = await request.form()
    fields = {field: str(form.get(field, "")).strip() for field in KEY_FORM_FIELDS}
    if not fields["budget_usd"]:
        fields["budget_period"] = ""  # the form always sends one
    state = state_of(request)
    service = AdminService(state.sessions, key_revoked=state.key_revoked)
    try:  # what is left empty is not limited; numbers arrive as text and are read as numbers
        created = await service.create_key(validate_query({k: v for k, v in fields.items() if v}, KeyCreate))
    except TollgateError as error:
        return await _keys(request, error.http_status, error=error.message)
    return await _keys(request, 201, created=created)


@post("/keys/{key_id:str}/revoke")
async def revoke_key(request: HttpRequest, key_id: str) -> Redirect | Template:
    state = state_of(request)
    try:  # the id as sent: the key lookup alone decides what is a key's id (int() also reads "١" as 1)
        await AdminService(state.sessions, key_revoked=state.key_revoked).revoke_key(key_id)
    except TollgateError as error:
        return await _keys(request, error.http_status, error=error.message)
    return Redirect("/dashboard/keys", status_code=HTTP_303_SEE_OTHER)


ROUTES = [
    Router(path="/dashboard", route_handlers=[login_form, login]),
    Router(
        path="/dashboard",
        before_request=require_session,
        route_handlers=[
            home,
            usage,
            cache,
            top_customers,
            latency,
            errors,
            billing,
            keys,
            create_key,
            revoke_key,
            logout,
        ],
    ),
    *dashboard_rollouts.routes(NAVIGATION),
]
