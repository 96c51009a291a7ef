"""The Litestar application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.exceptions import HTTPException

from gateway import health
from gateway.admin import endpoints as admin
from gateway.batches import endpoints as batches
from gateway.billing_api import endpoints as billing_api
from gateway.core import collector
from gateway.core.errors import TollgateError
from gateway.dashboard import endpoints as dashboard
from gateway.db.migrate import migrate_on_start
from gateway.dependencies import DEPENDENCIES, require_admin, require_session
from gateway.edge.asgi import Receive, Scope, Send
from gateway.edge.errors import handle_http_exception, handle_tollgate_error, handle_undecodable, handle_unexpected
from gateway.feedback import endpoints as feedback
from gateway.files import endpoints as files
from gateway.generation import endpoints as generation
from gateway.generation import media_endpoints as media
from gateway.generation import models_endpoints as models
from gateway.openapi import openapi_config
from gateway.responses import endpoints as responses
from gateway.responses.service import ResponsesService
from gateway.routing import endpoints as routing
from gateway.settings import Settings, load_settings
from gateway.state import AppState, close_state, start_state


def create_app(settings: Settings, reload: Callable[[], Settings] | None = None) -> Litestar:
    """``reload`` reads the config again, for ``POST /admin/reload``."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await migrate_on_start(settings.database_url)
        state = await start_state(settings)
        state.reload = reload
        app.state.tollgate = state
        _hand_plain_endpoints(app, state)
        thresholds = collector.settle_for_serving()
        try:
            yield
        finally:
            collector.restore(thresholds)
            await close_state(state)

    return Litestar(
        route_handlers=[
            *models.ROUTES,
            *files.ROUTES,
            *batches.ROUTES,
            *feedback.ROUTES,
            *health.ROUTES,
            *billing_api.ROUTES,
            Router(
                path="/admin",
                guards=[require_admin],
                route_handlers=[*admin.ADMIN_ROUTES, *routing.ADMIN_ROUTES, *billing_api.ADMIN_ROUTES],
            ),
            Router(path="/dashboard", route_handlers=dashboard.ROUTES),
            Router(path="/dashboard", before_request=require_session, route_handlers=dashboard.SIGNED_IN_ROUTES),
        ],
        dependencies=DEPENDENCIES,
        template_config=dashboard.TEMPLATES,
        lifespan=[lifespan],
        exception_handlers={
            TollgateError: handle_tollgate_error,
            HTTPException: handle_http_exception,
            UnicodeDecodeError: handle_undecodable,
            LookupError: handle_undecodable,
            Exception: handle_unexpected,
        },
        request_max_body_size=settings.max_request_bytes,
        openapi_config=openapi_config(),
        debug=False,
    )


def _hand_plain_endpoints(app: Litestar, state: AppState) -> None:
    """Build what each plain-ASGI endpoint family uses, once, from the state: the endpoints get these
    objects, never the state itself. Their body limits are settings that a reload leaves alone."""
    settings = state.settings
    app.state.generation = generation.Generation(
        state.pipeline, state.observer, state.ids, settings.max_request_bytes, settings.max_messages
    )
    app.state.media = media.Media(
        state.pipeline, state.media, state.observer, state.ids, settings.max_request_bytes, settings.max_upload_bytes
    )
    service = ResponsesService(state.pipeline, state.sessions, settings.max_messages)
    app.state.responses = responses.Responses(
        state.pipeline, service, state.observer, state.ids, settings.max_request_bytes
    )


class Edge:
    """The ASGI entry point: the generation, image and audio endpoints go straight to their handlers,
    everything else (lifespan included) to the Litestar application."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = generation.endpoint_for(scope)
        if endpoint is not None:
            await generation.serve(self.app.state.generation, endpoint, scope, receive, send)
        elif (media_endpoint := media.endpoint_for(scope)) is not None:
            await media.serve(self.app.state.media, media_endpoint, scope, receive, send)
        elif responses.handles(scope):
            await responses.serve(self.app.state.responses, scope, receive, send)
        else:
            await self.app(scope, receive, send)  # type: ignore[arg-type]


def app_from_environment() -> Edge:
    """Factory for ASGI servers' workers: ``tollgate serve`` passes the config through the
    environment, which is read here, at the process edge, and nowhere else."""
    settings = load_settings(None, os.environ)
    app = create_app(settings, reload=lambda: load_settings(None, os.environ))
    # After the app: Litestar configures the root logger as it is built; the gateway's setting wins.
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    return Edge(app)
