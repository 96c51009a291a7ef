"""The routing part of the admin API: ``GET /admin/routing``, ``POST /admin/reload`` and rollouts
(mounted under ``/admin`` behind the admin token by ``gateway/app.py``)."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.edge.errors import HttpRequest
from gateway.edge.json_io import json_response
from gateway.routing import admin as routing_admin
from gateway.routing.rollouts import Rollouts
from gateway.routing.router import Router
from gateway.routing.wire import ReloadOut


@get("/routing")
async def show_routing(request: HttpRequest, router: NamedDependency[Router]) -> Response[bytes]:
    return json_response(request, routing_admin.overview(router))


@post("/reload", status_code=200)
async def reload_config(
    request: HttpRequest, reload_routing: NamedDependency[Callable[[], ReloadOut]]
) -> Response[bytes]:
    """Re-read the config: backends, models and routing change; other settings need a restart."""
    return json_response(request, reload_routing())


@post("/models/{model:str}/rollout/promote", status_code=200)
async def promote(
    request: HttpRequest, model: FromPath[str], router: NamedDependency[Router], rollouts: NamedDependency[Rollouts]
) -> Response[bytes]:
    return json_response(request, await routing_admin.promote(router, rollouts, model))


@post("/models/{model:str}/rollout/rollback", status_code=200)
async def rollback(
    request: HttpRequest, model: FromPath[str], router: NamedDependency[Router], rollouts: NamedDependency[Rollouts]
) -> Response[bytes]:
    """Withdraws an active rollout's candidate, or restores a promoted one's previous version within
    ``keep_previous_hours`` (409 ``rollback_window_closed`` after)."""
    return json_response(request, await routing_admin.rollback(router, rollouts, model))


ADMIN_ROUTES = [show_routing, reload_config, promote, rollback]
