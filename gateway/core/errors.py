"""The one error hierarchy of Tollgate.

Backends raise these errors at their border (``backends`` may import ``gateway.core``, nothing
else of the gateway), and the gateway raises the same classes for its own refusals. Every error
knows its HTTP status and its OpenAI ``type`` and ``code``; one handler (``gateway/edge/errors.py``)
renders the envelope ``{"error": {"message", "type", "param", "code"}}``. The tree, each class
with its status, ``type`` and default ``code`` (``-``: given at the raise):

* TollgateError                          500 server_error           -
  * InvalidRequest                       400 invalid_request_error  -
  * UnsupportedOperation                 400 invalid_request_error  unsupported_operation
  * AuthenticationFailed                 401 authentication_error   invalid_api_key
  * PermissionDenied                     403 permission_error       model_not_allowed
  * ModelNotFound                        404 invalid_request_error  model_not_found
  * NotFound                             404 invalid_request_error  not_found
  * MethodNotAllowed                     405 invalid_request_error  method_not_allowed
  * Conflict                             409 invalid_request_error  already_exists
  * PayloadTooLarge                      413 invalid_request_error  request_too_large
  * Overloaded                           503 server_error           overloaded
  * UpstreamError                        502 upstream_error         upstream_error
    * UpstreamUnreachable                502 upstream_error         upstream_unreachable
    * UpstreamTimeout                    504 upstream_error         upstream_timeout
    * UpstreamProtocolError              502 upstream_error         upstream_bad_response
      * UpstreamInvalidResponse          502 upstream_error         upstream_invalid_response
    * UpstreamStatusError                the upstream's 4xx/5xx, type and code; 502
                                         upstream_auth_failed for its 401/403/407

Refusals that belong to one domain are subclasses defined beside the code that raises them:
the admission's ``RateLimited`` (429, typed by the exhausted unit), ``InsufficientQuota`` and
``CreditShort`` (402) and ``AdmissionUnavailable`` (503); ``KeyStoreUnavailable``,
``JournalUnavailable``, ``StoreUnavailable`` and ``ShuttingDown`` (503); billing's
``StripeUnavailable`` (an ``UpstreamError``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.core.redact import identifier, redacted

# An upstream answering these refused the operator's provider credentials, not the client's.
UPSTREAM_AUTH_STATUSES = (401, 403, 407)
_AUTH_FAILED = "The upstream provider refused this gateway's own credentials (HTTP {}); this is not about your key."


class TollgateError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None
    # A copy of a failure already counted against its replica's health: one upstream call that failed
    # for several requests (a micro-batch's) counts once (gateway/routing/batching.py).
    echo: bool = False

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

    @classmethod
    def named(cls, model: str) -> ModelNotFound:
        """One answer for a model that does not exist and for one the key may not use: they must not differ."""
        return cls(f"The model '{model}' does not exist or you do not have access to it.", param="model")


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
    """Anything that went wrong on the far side of a backend.

    Its message is the upstream's with the operator's addresses and credentials taken out (the
    client reads it); ``detail`` keeps the words as they came, for the operator's logs."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(redacted(message), param=param, code=code, headers=headers)
        self.detail = message


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
    """The upstream answered with an HTTP error. The client sees its status, its error type and code
    (when they look like names) and its redacted message; but a refusal of the operator's own
    credentials (401, 403, 407) is a 502 ``upstream_auth_failed`` that tells nothing more: the
    client's key was fine, and what the provider said about the gateway's key is not theirs to read."""

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
        auth = upstream_status in UPSTREAM_AUTH_STATUSES
        shown = _AUTH_FAILED.format(upstream_status) if auth else message
        code = "upstream_auth_failed" if auth else identifier(code)
        super().__init__(shown, param=None if auth else identifier(param), code=code, headers=headers)
        self.detail = message
        self.upstream_status = upstream_status
        self.upstream_type = None if auth else identifier(upstream_type)

    @property
    def http_status(self) -> int:
        if self.upstream_status in UPSTREAM_AUTH_STATUSES or not 400 <= self.upstream_status < 600:
            return 502
        return self.upstream_status

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
