"""The admin API under ``/admin``: customers, credits, keys, usage and price books, behind the admin token.

``gateway/app.py`` mounts :data:`ADMIN_ROUTES` under ``/admin`` behind the admin-token guard: without an
``admin_token`` in the settings every route answers 403 (the API is off, not open).
"""

from __future__ import annotations

import msgspec
from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin import cache_purge, usage_reports
from gateway.admin.credits import CreditService
from gateway.admin.service import AdminService
from gateway.admin.wire import (
    CachePurge,
    CreditQuery,
    CreditTopUp,
    CustomerCreate,
    CustomerUpdate,
    EventQuery,
    KeyCreate,
    PricePublish,
    UsageQuery,
)
from gateway.cache.service import ResponseCache
from gateway.edge.errors import HttpRequest
from gateway.edge.json_io import NoQuery, json_body, json_response
from gateway.protocol.decoding import validate, validate_query
from gateway.settings import Settings


class KeyQuery(msgspec.Struct, forbid_unknown_fields=True):
    customer: str | None = None


@post("/customers", opt={"body": CustomerCreate})
async def create_customer(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    body = validate(await json_body(request), CustomerCreate)
    return json_response(request, await admin.create_customer(body), 201)


@get("/customers", opt={"query": NoQuery})
async def list_customers(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return json_response(request, await admin.list_customers())


@get("/customers/{name:str}")
async def get_customer(
    request: HttpRequest, name: FromPath[str], admin: NamedDependency[AdminService]
) -> Response[bytes]:
    return json_response(request, await admin.get_customer(name))


@patch("/customers/{name:str}", opt={"body": CustomerUpdate})
async def update_customer(
    request: HttpRequest, name: FromPath[str], admin: NamedDependency[AdminService]
) -> Response[bytes]:
    body = validate(await json_body(request), CustomerUpdate)
    return json_response(request, await admin.update_customer(name, body))


@post("/customers/{name:str}/credits", opt={"body": CreditTopUp})
async def add_credits(
    request: HttpRequest, name: FromPath[str], credits: NamedDependency[CreditService]
) -> Response[bytes]:
    """A top-up: 201 when it is added, 200 when its ``reference`` had been used (nothing is added)."""
    body = validate(await json_body(request), CreditTopUp)
    added = await credits.top_up(name, body)
    return json_response(request, added, 200 if added.replayed else 201)


@get("/customers/{name:str}/credits", opt={"query": CreditQuery})
async def show_credits(
    request: HttpRequest, name: FromPath[str], credits: NamedDependency[CreditService]
) -> Response[bytes]:
    query = validate_query(request.query_params, CreditQuery)
    return json_response(request, await credits.show(name, query.limit))


@get("/credits", opt={"query": NoQuery})
async def list_credits(request: HttpRequest, credits: NamedDependency[CreditService]) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return json_response(request, await credits.overview())


@post("/keys", opt={"body": KeyCreate})
async def create_key(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    body = validate(await json_body(request), KeyCreate)
    return json_response(request, await admin.create_key(body), 201)


@get("/keys", opt={"query": KeyQuery})
async def list_keys(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    query = validate_query(request.query_params, KeyQuery)
    return json_response(request, await admin.list_keys(query.customer))


@post("/keys/{ref:str}/revoke", status_code=200)
async def revoke_key(request: HttpRequest, ref: FromPath[str], admin: NamedDependency[AdminService]) -> Response[bytes]:
    return json_response(request, await admin.revoke_key(ref))


@delete("/keys/{ref:str}", status_code=200)
async def delete_key(request: HttpRequest, ref: FromPath[str], admin: NamedDependency[AdminService]) -> Response[bytes]:
    """Keys are never deleted (usage events name them): DELETE revokes."""
    return json_response(request, await admin.revoke_key(ref))


@get("/usage", opt={"query": UsageQuery})
async def usage(request: HttpRequest, sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> Response[bytes]:
    query = validate_query(request.query_params, UsageQuery)
    return json_response(request, await usage_reports.report(sessions, query))


@get("/usage/events", opt={"query": EventQuery})
async def usage_events(
    request: HttpRequest, sessions: NamedDependency[async_sessionmaker[AsyncSession]]
) -> Response[bytes]:
    query = validate_query(request.query_params, EventQuery)
    return json_response(request, await usage_reports.events(sessions, query))


@get("/prices")
async def current_prices(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    return json_response(request, await admin.current_prices())


@post("/prices", opt={"body": PricePublish})
async def publish_prices(request: HttpRequest, admin: NamedDependency[AdminService]) -> Response[bytes]:
    body = validate(await json_body(request), PricePublish)
    return json_response(request, await admin.publish_prices(body), 201)


@post("/cache/purge", status_code=200)
async def purge_cache(
    request: HttpRequest,
    sessions: NamedDependency[async_sessionmaker[AsyncSession]],
    cache: NamedDependency[ResponseCache | None],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    body = validate(await json_body(request), CachePurge)
    models = [model.name for model in settings.models]
    return json_response(request, await cache_purge.purge(sessions, cache, models, body))


ADMIN_ROUTES = [
    create_customer,
    list_customers,
    get_customer,
    update_customer,
    add_credits,
    show_credits,
    list_credits,
    create_key,
    list_keys,
    revoke_key,
    delete_key,
    usage,
    usage_events,
    current_prices,
    publish_prices,
    purge_cache,
]
