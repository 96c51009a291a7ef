"""The one error hierarchy of Tollgate.

It lives in `backends` because that is the lowest package: backends raise these errors at their
border, and the gateway raises the same classes for its own refusals. Every error knows its HTTP
status and its OpenAI ``type`` and ``code``; one handler in the gateway renders the envelope.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TollgateError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    @property
    def http_status(self) -> int:
        return self.status

    @property
    def error_type(self) -> str:
        return self.type

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(TollgateError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(TollgateError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(TollgateError):
    status = 403
    type = "permission_error"
    default_code = "model_not_allowed"


class ModelNotFound(TollgateError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class NotFound(TollgateError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class Conflict(TollgateError):
    """The request would duplicate something that must be unique (a customer's name, for one)."""

    status = 409
    type = "invalid_request_error"
    default_code = "already_exists"


class MethodNotAllowed(TollgateError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLarge(TollgateError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class UpstreamError(TollgateError):
    """Anything that went wrong on the far side of a backend."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    default_code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something that is not its API's wire format."""

    default_code = "upstream_bad_response"


class UpstreamInvalidResponse(UpstreamProtocolError):
    """The upstream answered 200 with JSON that is not an OpenAI-shaped answer (``{"choices": "nope"}``)."""

    default_code = "upstream_invalid_response"


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error; the client sees the same status and message."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int,
        upstream_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.upstream_status = upstream_status
        self.upstream_type = upstream_type

    @property
    def http_status(self) -> int:
        return self.upstream_status if 400 <= self.upstream_status < 600 else 502

    @property
    def error_type(self) -> str:
        return self.upstream_type or self.type


class UnsupportedOperation(TollgateError):
    status = 400
    type = "invalid_request_error"
    default_code = "unsupported_operation"


class Overloaded(TollgateError):
    """Every replica that could serve the request is saturated and it waited its longest in the queue."""

    status = 503
    type = "server_error"
    default_code = "overloaded"
