"""The routing part of the admin API: ``GET /admin/routing``, ``POST /admin/reload`` and rollouts."""

from __future__ import annotations

import msgspec
from litestar import Response, Router, get, post

from gateway.errors import HttpRequest, request_id_of
from gateway.routes.admin import require_admin
from gateway.routing import admin as routing
from gateway.state import AppState

_encode = msgspec.json.Encoder().encode


def _state(request: HttpRequest) -> AppState:
    state: AppState = request.app.state.tollgate
    return state


def _json(request: HttpRequest, body: msgspec.Struct) -> Response[bytes]:
    return Response(_encode(body), media_type="application/json", headers={"x-request-id": request_id_of(request)})


@get("/routing")
async def show_routing(request: HttpRequest) -> Response[bytes]:
    return _json(request, routing.overview(_state(request).router))


@post("/reload", status_code=200)
async def reload_config(request: HttpRequest) -> Response[bytes]:
    """Re-read the config: backends, models and routing change; other settings need a restart."""
    state = _state(request)
    settings, out = routing.reload(state.router, state.reload, state.ctx)
    state.settings = msgspec.structs.replace(
        state.settings, backends=settings.backends, models=settings.models, routing=settings.routing
    )
    return _json(request, out)


@post("/models/{model:str}/rollout/promote", status_code=200)
async def promote(request: HttpRequest, model: str) -> Response[bytes]:
    return _json(request, await routing.promote(_state(request).router, model))


@post("/models/{model:str}/rollout/rollback", status_code=200)
async def rollback(request: HttpRequest, model: str) -> Response[bytes]:
    return _json(request, await routing.rollback(_state(request).router, model))


ROUTES = [
    Router(path="/admin", guards=[require_admin], route_handlers=[show_routing, reload_config, promote, rollback])
]
