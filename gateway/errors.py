"""Rendering every failure as OpenAI's error envelope, with the right status."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from backends.errors import MethodNotAllowed, NotFound, PayloadTooLarge, TollgateError

log = logging.getLogger("tollgate.errors")

_encode = msgspec.json.Encoder().encode

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
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, TollgateError("The gateway failed to handle this request; it has been logged."))
