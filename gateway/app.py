"""The Litestar application factory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.exceptions import HTTPException

from backends.errors import TollgateError
from gateway.db.migrate import migrate_on_start
from gateway.errors import handle_http_exception, handle_tollgate_error, handle_unexpected
from gateway.kit.asgi import Receive, Scope, Send
from gateway.routes import admin, generation, health, openai, routing_admin
from gateway.settings import Settings, load_settings
from gateway.state import close_state, start_state


def create_app(settings: Settings, reload: Callable[[], Settings] | None = None) -> Litestar:
    """``reload`` reads the config again, for ``POST /admin/reload``."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await migrate_on_start(settings.database_url)
        state = await start_state(settings)
        state.reload = reload
        app.state.tollgate = state
        try:
            yield
        finally:
            await close_state(state)

    return Litestar(
        route_handlers=[*openai.ROUTES, *health.ROUTES, *admin.ROUTES, *routing_admin.ROUTES],
        lifespan=[lifespan],
        exception_handlers={
            TollgateError: handle_tollgate_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        request_max_body_size=settings.max_request_bytes,
        openapi_config=None,
        debug=False,
    )


class Edge:
    """The ASGI entry point: the generation endpoints go straight to their handlers, everything
    else (lifespan included) to the Litestar application."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = generation.endpoint_for(scope)
        if endpoint is None:
            await self.app(scope, receive, send)  # type: ignore[arg-type]
        else:
            await generation.serve(self.app.state.tollgate, endpoint, scope, receive, send)


def app_from_environment() -> Edge:
    """Factory for ASGI servers' workers: ``tollgate serve`` passes the config through the
    environment, which is read here, at the process edge, and nowhere else."""
    return Edge(create_app(load_settings(None, os.environ), reload=lambda: load_settings(None, os.environ)))
