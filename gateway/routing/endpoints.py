"""The routing part of the admin API: ``GET /admin/routing``, ``POST /admin/reload`` and rollouts."""

from __future__ import annotations

import msgspec
from litestar import Response, Router, get, post

from gateway.admin.common import json_response, require_admin
from gateway.dependencies import state_of
from gateway.edge.errors import HttpRequest
from gateway.routing import admin as routing


@get("/routing")
async def show_routing(request: HttpRequest) -> Response[bytes]:
    return json_response(request, routing.overview(state_of(request).router))


@post("/reload", status_code=200)
async def reload_config(request: HttpRequest) -> Response[bytes]:
    """Re-read the config: backends, models and routing change; other settings need a restart."""
    state = state_of(request)
    settings, out = routing.reload(state.router, state.reload, state.ctx)
    state.settings = msgspec.structs.replace(
        state.settings, backends=settings.backends, models=settings.models, routing=settings.routing
    )
    return json_response(request, out)


@post("/models/{model:str}/rollout/promote", status_code=200)
async def promote(request: HttpRequest, model: str) -> Response[bytes]:
    state = state_of(request)
    assert state.rollouts is not None
    return json_response(request, await routing.promote(state.router, state.rollouts, model))


@post("/models/{model:str}/rollout/rollback", status_code=200)
async def rollback(request: HttpRequest, model: str) -> Response[bytes]:
    """Withdraws an active rollout's candidate, or restores a promoted one's previous version within
    ``keep_previous_hours`` (409 ``rollback_window_closed`` after)."""
    state = state_of(request)
    assert state.rollouts is not None
    return json_response(request, await routing.rollback(state.router, state.rollouts, model))


ROUTES = [
    Router(path="/admin", guards=[require_admin], route_handlers=[show_routing, reload_config, promote, rollback])
]
