"""The one way a route handler or guard reaches the gateway's state (set on the app at startup)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from gateway.state import AppState


def state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AppState:
    """The app state behind a request (or any connection, so guards can use it too)."""
    state: AppState = connection.app.state.tollgate
    return state
