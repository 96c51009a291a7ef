"""What route handlers get by dependency injection, and the guards Litestar's injection cannot reach.

A handler declares what it needs as typed parameters named after the providers below
(``sessions: NamedDependency[Sessions]``, ``router: NamedDependency[Router]`` ...); ``gateway/app.py``
registers :data:`DEPENDENCIES` once, on the application. Each provider reads one part of the
:class:`~gateway.state.AppState` built in the lifespan, at request time (the routing table and the
settings change on ``POST /admin/reload``). The handlers' modules import neither this module nor the state.

Litestar injects nothing into guards and ``before_request`` hooks (litestar-org/litestar#1129), so the
two that need the app state, the admin API's token check and the dashboard's session check
(:func:`gateway.dashboard.guards.check_session`), are here, and ``gateway/app.py`` sets them on the
``/admin`` and ``/dashboard`` routers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.response import Response, Template
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.job import BillingJob
from gateway.admin.credits import CreditService
from gateway.admin.service import AdminService
from gateway.admission.redis_watch import RedisWatch
from gateway.batches.lane import BatchLane
from gateway.cache.service import ResponseCache
from gateway.core.errors import AuthenticationFailed, PermissionDenied
from gateway.dashboard.guards import check_session
from gateway.dashboard.session import SessionSigner
from gateway.dashboard.sign_in import SignInGuard
from gateway.edge.bearer import bearer_matches
from gateway.edge.errors import HttpRequest
from gateway.generation.pipeline import Pipeline
from gateway.keys.principal import Principal
from gateway.metering.drain import JournalDrain
from gateway.metering.journal import Journal
from gateway.metrics import Metrics
from gateway.routing.catalog import Catalog
from gateway.routing.rollouts import Rollouts
from gateway.routing.router import Router
from gateway.routing.wire import ReloadOut
from gateway.settings import Settings
from gateway.state import AppState


def state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AppState:
    """The app state behind a connection, for the guards below (Litestar's injection does not reach
    them); route handlers take what they need as parameters."""
    return _app_state(connection.app.state)


def _app_state(state: State) -> AppState:
    app_state: AppState = state.tollgate
    return app_state


def _settings(state: State) -> Settings:
    return _app_state(state).settings


def _sessions(state: State) -> async_sessionmaker[AsyncSession]:
    return _app_state(state).sessions


def _router(state: State) -> Router:
    return _app_state(state).router


def _catalog(state: State) -> Catalog:
    return _app_state(state).router.table.catalog


def _pipeline(state: State) -> Pipeline:
    return _app_state(state).pipeline


async def _principal(request: HttpRequest, pipeline: NamedDependency[Pipeline]) -> Principal:
    """The customer key's principal (401 without a valid key; the anonymous customer where configured)."""
    return await pipeline.authenticate(request.headers.get("authorization"))


async def _key_principal(request: HttpRequest, pipeline: NamedDependency[Pipeline]) -> Principal:
    """The principal of the customer key the request bears: 401 without a valid one, even where
    anonymous requests are served (for what is of a customer's own, such as feedback on its answers)."""
    return await pipeline.keys.authenticate(request.headers.get("authorization"))


def _cache(state: State) -> ResponseCache | None:
    return _app_state(state).pipeline.cache


def _journal(state: State) -> Journal | None:
    return _app_state(state).pipeline.meter.journal


def _drain(state: State) -> JournalDrain | None:
    return _app_state(state).drain


def _redis_watch(state: State) -> RedisWatch | None:
    return _app_state(state).redis_watch


def _rollouts(state: State) -> Rollouts:
    rollouts = _app_state(state).rollouts
    assert rollouts is not None  # start_state always builds them
    return rollouts


def _metrics(state: State) -> Metrics:
    return _app_state(state).metrics


def _billing_job(state: State) -> BillingJob | None:
    return _app_state(state).billing


def _reload_routing(state: State) -> Callable[[], ReloadOut]:
    return _app_state(state).reload_routing


def _admin(state: State) -> AdminService:
    app_state = _app_state(state)
    models = [model.name for model in app_state.settings.models]
    return AdminService(app_state.sessions, key_revoked=app_state.key_revoked, known_models=models)


def _credits(sessions: NamedDependency[async_sessionmaker[AsyncSession]]) -> CreditService:
    return CreditService(sessions)


def _signer(settings: NamedDependency[Settings]) -> SessionSigner | None:
    """The dashboard's session signer, keyed by the admin token; None while the dashboard is off."""
    return SessionSigner(settings.admin_token) if settings.admin_token else None


def _sign_in(state: State) -> SignInGuard:
    return _app_state(state).sign_in


def _batch_lane(state: State) -> BatchLane | None:
    return _app_state(state).batch_lane


def _provide(provider: Callable[..., Any]) -> Provide:
    # The providers only read what the lifespan built: nothing blocks, so nothing goes to a thread.
    return Provide(provider, sync_to_thread=False)


DEPENDENCIES: dict[str, Provide] = {
    "settings": _provide(_settings),
    "sessions": _provide(_sessions),
    "router": _provide(_router),
    "catalog": _provide(_catalog),
    "pipeline": _provide(_pipeline),
    "principal": Provide(_principal),
    "key_principal": Provide(_key_principal),
    "cache": _provide(_cache),
    "journal": _provide(_journal),
    "drain": _provide(_drain),
    "redis_watch": _provide(_redis_watch),
    "rollouts": _provide(_rollouts),
    "metrics": _provide(_metrics),
    "billing_job": _provide(_billing_job),
    "reload_routing": _provide(_reload_routing),
    "admin": _provide(_admin),
    "credits": _provide(_credits),
    "signer": _provide(_signer),
    "sign_in": _provide(_sign_in),
    "batch_lane": _provide(_batch_lane),
}


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """The ``/admin`` router's guard: 403 while no admin token is configured (the API is off, not
    open), 401 unless the request bears it."""
    token = state_of(connection).settings.admin_token
    if not token:
        raise PermissionDenied(
            "The admin API is disabled: set admin_token in the config (or TOLLGATE_ADMIN_TOKEN) to enable it.",
            code="admin_api_disabled",
        )
    if not bearer_matches(connection.headers.get("authorization"), token):
        raise AuthenticationFailed(
            "The admin API needs 'Authorization: Bearer <admin token>'; the token given is missing or wrong.",
            code="invalid_admin_token",
            headers={"www-authenticate": 'Bearer realm="tollgate-admin"'},
        )


async def require_session(request: HttpRequest) -> Response[Any] | Template | None:
    """``before_request`` of the dashboard's signed-in pages (see ``check_session``)."""
    state = state_of(request)
    return await check_session(request, _signer(state.settings), state.sign_in)
