"""The admins' dashboard at ``/dashboard``: server-rendered pages drawn from the hourly rollups.

Every page but the sign-in form (:data:`ROUTES`) needs the session cookie: ``gateway/app.py`` mounts
:data:`SIGNED_IN_ROUTES` behind ``require_session`` (see ``gateway.dashboard.guards``). The pages'
numbers come from ``gateway.dashboard.usage``, ``health`` and ``admin``, which never read raw usage events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import gateway.dashboard
from billing.status import billing_status
from gateway.admin.key_terms import budget_text, limits_text
from gateway.admin.service import AdminService
from gateway.admin.wire import KeyCreate
from gateway.core.errors import TollgateError
from gateway.dashboard import admin as dashboard_admin
from gateway.dashboard import health as dashboard_health
from gateway.dashboard import margin as dashboard_margin
from gateway.dashboard import rollouts as dashboard_rollouts
from gateway.dashboard import usage as dashboard_usage
from gateway.dashboard.charts import COLORS, plot
from gateway.dashboard.guards import HOME, login, login_form, logout, page
from gateway.dashboard.pages import Report
from gateway.dashboard.periods import RANGES, Periods, periods
from gateway.dashboard.repository import Dimension
from gateway.dashboard.session import SessionSigner
from gateway.edge.errors import HttpRequest
from gateway.protocol.decoding import validate_query


def _chart_helpers(engine: JinjaTemplateEngine) -> None:
    engine.engine.globals.update(plot=plot, colors=COLORS)


TEMPLATES = TemplateConfig(
    directory=Path(gateway.dashboard.__file__).parent / "templates",
    engine=JinjaTemplateEngine,
    engine_callback=_chart_helpers,
)
# What the pages take by injection (``gateway/dependencies.py``).
Sessions = NamedDependency[async_sessionmaker[AsyncSession]]
Signer = NamedDependency[SessionSigner | None]
Admin = NamedDependency[AdminService]
DIMENSIONS: tuple[Dimension, ...] = ("customer", "key", "model")
NAVIGATION = [
    ("usage", "Usage"),
    ("cache", "Cache"),
    ("latency", "Latency"),
    ("errors", "Errors"),
    ("customers", "Top customers"),
    ("margin", "Margin"),
    ("billing", "Billing"),
    ("keys", "Keys"),
    ("rollouts", "Rollouts"),
]


def _periods(request: HttpRequest) -> Periods:
    return periods(request.query_params.get("range", ""), dt.datetime.now(dt.UTC))


def _report(
    request: HttpRequest, signer: SessionSigner | None, report: Report, chosen: Periods | None, **extra: Any
) -> Template:
    context = {"title": report.title, "report": report, "nav": NAVIGATION, "ranges": list(RANGES), **extra}
    return page(request, signer, "report.html", {**context, "range": None if chosen is None else chosen.name})


async def _over_periods(
    request: HttpRequest,
    sessions: async_sessionmaker[AsyncSession],
    signer: SessionSigner | None,
    build: Callable[[async_sessionmaker[AsyncSession], Periods], Awaitable[Report]],
) -> Template:
    """A report page built by ``build`` over the periods the query's ``range`` chooses."""
    chosen = _periods(request)
    return _report(request, signer, await build(sessions, chosen), chosen)


@get("/", sync_to_thread=False)
def home() -> Redirect:
    return Redirect(HOME, status_code=HTTP_303_SEE_OTHER)


@get("/usage")
async def usage(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    by = request.query_params.get("by", "customer")
    dimension: Dimension = next((d for d in DIMENSIONS if d == by), "customer")
    chosen = _periods(request)
    report = await dashboard_usage.usage_report(sessions, chosen, dimension)
    return _report(request, signer, report, chosen, dimensions=DIMENSIONS, by=dimension)


@get("/cache")
async def cache(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _over_periods(request, sessions, signer, dashboard_usage.cache_report)


@get("/customers")
async def top_customers(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _over_periods(request, sessions, signer, dashboard_usage.customers_report)


@get("/margin")
async def margin(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _over_periods(request, sessions, signer, dashboard_margin.margin_report)


@get("/latency")
async def latency(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _over_periods(request, sessions, signer, dashboard_health.latency_report)


@get("/errors")
async def errors(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _over_periods(request, sessions, signer, dashboard_health.errors_report)


@get("/billing")
async def billing(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return _report(request, signer, await dashboard_admin.billing_report(sessions, billing_status), None)


async def _keys(
    request: HttpRequest,
    sessions: async_sessionmaker[AsyncSession],
    signer: SessionSigner | None,
    status: int = 200,
    **shown: Any,
) -> Template:
    found = await dashboard_admin.keys_page(sessions)
    terms = {
        key.id: {
            "limits": limits_text(key.limits.rpm, key.limits.tpm, key.limits.max_concurrency),
            "budget": budget_text(key.limits.budget_micros, key.limits.budget_period),
        }
        for key in found.keys
    }
    context = {"title": "Keys", "nav": NAVIGATION, "keys": found.keys, "customers": found.customers, "terms": terms}
    return page(request, signer, "keys.html", {"created": None, "error": None, **context, **shown}, status)


@get("/keys")
async def keys(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    return await _keys(request, sessions, signer)


# The create form's fields: the key's customer and name, its limits, budget and expiry.
KEY_FORM_FIELDS = ("customer", "name", "rpm", "tpm", "max_concurrency", "budget_usd", "budget_period", "expires_at")


@post("/keys")
async def create_key(request: HttpRequest, sessions: Sessions, signer: Signer, admin: Admin) -> Template:
    """Issue a key and show its secret in this answer only (never in a URL, never again)."""
    form = await request.form()
    fields = {field: str(form.get(field, "")).strip() for field in KEY_FORM_FIELDS}
    if not fields["budget_usd"]:
        fields["budget_period"] = ""  # the form always sends one
    try:  # what is left empty is not limited; numbers arrive as text and are read as numbers
        created = await admin.create_key(validate_query({k: v for k, v in fields.items() if v}, KeyCreate))
    except TollgateError as error:
        return await _keys(request, sessions, signer, error.http_status, error=error.message)
    return await _keys(request, sessions, signer, 201, created=created)


@post("/keys/{key_id:str}/revoke")
async def revoke_key(
    request: HttpRequest, key_id: FromPath[str], sessions: Sessions, signer: Signer, admin: Admin
) -> Redirect | Template:
    try:  # the id as sent: the key lookup alone decides what is a key's id (int() also reads "١" as 1)
        await admin.revoke_key(key_id)
    except TollgateError as error:
        return await _keys(request, sessions, signer, error.http_status, error=error.message)
    return Redirect("/dashboard/keys", status_code=HTTP_303_SEE_OTHER)


ROUTES = [login_form, login]
SIGNED_IN_ROUTES: list[HTTPRouteHandler | Router] = [
    home,
    usage,
    cache,
    top_customers,
    margin,
    latency,
    errors,
    billing,
    keys,
    create_key,
    revoke_key,
    logout,
    *dashboard_rollouts.routes(NAVIGATION),
]
