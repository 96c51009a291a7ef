"""Rendering every failure as OpenAI's error envelope, with the right status."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.core.errors import InvalidRequest, MethodNotAllowed, NotFound, PayloadTooLarge, TollgateError

log = logging.getLogger("tollgate.errors")

_encode = msgspec.json.Encoder().encode
STORE_DOWN_MESSAGE = (
    "A data store the gateway needs (its database or Redis) is unreachable right now; try again shortly."
)
STORE_RETRY_AFTER = "5"

HttpRequest = Request[Any, Any, Any]


def request_id_of(request: HttpRequest) -> str:
    """The request's id, made on first use (the state's generator is built in the lifespan)."""
    request_id: str | None = request.scope.get("tollgate_request_id")  # type: ignore[assignment]
    if request_id is None:
        request_id = request.app.state.tollgate.ids.new()
        request.scope["tollgate_request_id"] = request_id  # type: ignore[typeddict-unknown-key]
    return request_id


def error_response(request: HttpRequest, error: TollgateError) -> Response[bytes]:
    headers = {**error.headers, "x-request-id": request_id_of(request)}
    return Response(
        _encode(error.envelope()), status_code=error.http_status, media_type="application/json", headers=headers
    )


def handle_tollgate_error(request: HttpRequest, exc: TollgateError) -> Response[bytes]:
    return error_response(request, exc)


def handle_http_exception(request: HttpRequest, exc: HTTPException) -> Response[bytes]:
    """Litestar's own refusals (unknown route, wrong method, body too large) in OpenAI's envelope."""
    error: TollgateError
    if exc.status_code == 404:
        error = NotFound(f"Invalid URL ({request.method} {request.url.path})")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 413:
        error = PayloadTooLarge("The request body is larger than this gateway accepts.")
    else:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        envelope = {"error": {"message": str(exc.detail), "type": kind, "param": None, "code": None}}
        return Response(
            _encode(envelope),
            status_code=exc.status_code,
            media_type="application/json",
            headers={"x-request-id": request_id_of(request)},
        )
    return error_response(request, error)


def handle_unexpected(request: HttpRequest, exc: Exception) -> Response[bytes]:
    if store_unreachable(exc):
        return _store_unavailable(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, TollgateError("The gateway failed to handle this request; it has been logged."))


class StoreUnavailable(TollgateError):
    status = 503
    type = "server_error"
    default_code = "store_unavailable"


def store_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database (or Redis) cannot be reached, rather than that the code is wrong:
    asyncpg raises ``ConnectionError`` when it cannot connect, SQLAlchemy a DBAPI error for a
    connection lost in use, and its pool a timeout when no connection comes."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, ConnectionError | TimeoutError | PoolTimeout)


def _store_unavailable(request: HttpRequest, exc: Exception) -> Response[bytes]:
    log.warning("%s %s: a store is unreachable (%s: %s)", request.method, request.url.path, type(exc).__name__, exc)
    return _one_line(request, StoreUnavailable(STORE_DOWN_MESSAGE, headers={"retry-after": STORE_RETRY_AFTER}))


def handle_undecodable(request: HttpRequest, exc: ValueError | LookupError) -> Response[bytes]:
    """A form (or body) Litestar decodes for a route, in bytes that are not its charset, or in a charset
    that does not exist (``LookupError`` itself, not its subclasses ``KeyError`` and ``IndexError``)."""
    if not isinstance(exc, UnicodeDecodeError) and type(exc) is not LookupError:
        return handle_unexpected(request, exc)
    error = InvalidRequest("The request body is not text in the charset it declares.", code="invalid_encoding")
    return _one_line(request, error)


def _one_line(request: HttpRequest, error: TollgateError) -> Response[bytes]:
    """The admin API's refusals in OpenAI's envelope; the dashboard's as one line of text."""
    if not request.url.path.startswith("/dashboard"):
        return error_response(request, error)
    headers = {**error.headers, "x-request-id": request_id_of(request)}
    return Response(error.message.encode(), status_code=error.http_status, media_type="text/plain", headers=headers)
