"""The admin API under ``/admin``: customers, credits, keys, usage and price books, behind the admin token.

Without an ``admin_token`` in the settings every route answers 403: the API is off, not open.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Response, Router, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from backends.errors import AuthenticationFailed, PermissionDenied
from gateway.errors import HttpRequest, request_id_of
from gateway.protocol.admin import (
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
from gateway.protocol.decoding import decode_object, validate, validate_query
from gateway.services import cache_admin, usage_reports
from gateway.services.admin import AdminService
from gateway.services.credits import CreditService
from gateway.state import AppState

_encode = msgspec.json.Encoder().encode


class KeyQuery(msgspec.Struct, forbid_unknown_fields=True):
    customer: str | None = None


class NoQuery(msgspec.Struct, forbid_unknown_fields=True):
    pass


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> AppState:
    state: AppState = connection.app.state.tollgate
    return state


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    token = _state(connection).settings.admin_token
    if not token:
        raise PermissionDenied(
            "The admin API is disabled: set admin_token in the config (or TOLLGATE_ADMIN_TOKEN) to enable it.",
            code="admin_api_disabled",
        )
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise AuthenticationFailed(
            "The admin API needs 'Authorization: Bearer <admin token>'; the token given is missing or wrong.",
            code="invalid_admin_token",
            headers={"www-authenticate": 'Bearer realm="tollgate-admin"'},
        )


def _service(request: HttpRequest) -> AdminService:
    state = _state(request)
    models = [model.name for model in state.settings.models]
    return AdminService(state.sessions, key_revoked=state.key_revoked, known_models=models)


def _json(request: HttpRequest, body: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(
        _encode(body),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id_of(request)},
    )


async def _body(request: HttpRequest) -> dict[str, Any]:
    return decode_object(await request.body())


@post("/customers", opt={"body": CustomerCreate})
async def create_customer(request: HttpRequest) -> Response[bytes]:
    body = validate(await _body(request), CustomerCreate)
    return _json(request, await _service(request).create_customer(body), 201)


@get("/customers", opt={"query": NoQuery})
async def list_customers(request: HttpRequest) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return _json(request, await _service(request).list_customers())


@get("/customers/{name:str}")
async def get_customer(request: HttpRequest, name: str) -> Response[bytes]:
    return _json(request, await _service(request).get_customer(name))


@patch("/customers/{name:str}", opt={"body": CustomerUpdate})
async def update_customer(request: HttpRequest, name: str) -> Response[bytes]:
    body = validate(await _body(request), CustomerUpdate)
    return _json(request, await _service(request).update_customer(name, body))


@post("/customers/{name:str}/credits", opt={"body": CreditTopUp})
async def add_credits(request: HttpRequest, name: str) -> Response[bytes]:
    """A top-up: 201 when it is added, 200 when its ``reference`` had been used (nothing is added)."""
    body = validate(await _body(request), CreditTopUp)
    added = await CreditService(_state(request).sessions).top_up(name, body)
    return _json(request, added, 200 if added.replayed else 201)


@get("/customers/{name:str}/credits", opt={"query": CreditQuery})
async def show_credits(request: HttpRequest, name: str) -> Response[bytes]:
    query = validate_query(request.query_params, CreditQuery)
    return _json(request, await CreditService(_state(request).sessions).show(name, query.limit))


@get("/credits", opt={"query": NoQuery})
async def list_credits(request: HttpRequest) -> Response[bytes]:
    validate_query(request.query_params, NoQuery)
    return _json(request, await CreditService(_state(request).sessions).overview())


@post("/keys", opt={"body": KeyCreate})
async def create_key(request: HttpRequest) -> Response[bytes]:
    body = validate(await _body(request), KeyCreate)
    return _json(request, await _service(request).create_key(body), 201)


@get("/keys", opt={"query": KeyQuery})
async def list_keys(request: HttpRequest) -> Response[bytes]:
    query = validate_query(request.query_params, KeyQuery)
    return _json(request, await _service(request).list_keys(query.customer))


@post("/keys/{ref:str}/revoke", status_code=200)
async def revoke_key(request: HttpRequest, ref: str) -> Response[bytes]:
    return _json(request, await _service(request).revoke_key(ref))


@delete("/keys/{ref:str}", status_code=200)
async def delete_key(request: HttpRequest, ref: str) -> Response[bytes]:
    """Keys are never deleted (usage events name them): DELETE revokes."""
    return _json(request, await _service(request).revoke_key(ref))


@get("/usage", opt={"query": UsageQuery})
async def usage(request: HttpRequest) -> Response[bytes]:
    query = validate_query(request.query_params, UsageQuery)
    return _json(request, await usage_reports.report(_state(request).sessions, query))


@get("/usage/events", opt={"query": EventQuery})
async def usage_events(request: HttpRequest) -> Response[bytes]:
    query = validate_query(request.query_params, EventQuery)
    return _json(request, await usage_reports.events(_state(request).sessions, query))


@get("/prices")
async def current_prices(request: HttpRequest) -> Response[bytes]:
    return _json(request, await _service(request).current_prices())


@post("/prices", opt={"body": PricePublish})
async def publish_prices(request: HttpRequest) -> Response[bytes]:
    body = validate(await _body(request), PricePublish)
    return _json(request, await _service(request).publish_prices(body), 201)


@post("/cache/purge", status_code=200)
async def purge_cache(request: HttpRequest) -> Response[bytes]:
    state = _state(request)
    body = validate(await _body(request), CachePurge)
    models = [model.name for model in state.settings.models]
    return _json(request, await cache_admin.purge(state.sessions, state.pipeline.cache, models, body))


ROUTES = [
    Router(
        path="/admin",
        guards=[require_admin],
        route_handlers=[
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
        ],
    )
]
