"""What every part of the admin API shares: the admin-token check, JSON in and out, the empty query."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from gateway.core.errors import AuthenticationFailed, PermissionDenied
from gateway.edge.bearer import bearer_matches
from gateway.edge.errors import HttpRequest, request_id_of
from gateway.protocol.decoding import decode_object

_encode = msgspec.json.Encoder().encode


class NoQuery(msgspec.Struct, forbid_unknown_fields=True):
    pass


def check_admin_token(token: str | None, authorization: str | None) -> None:
    """The admin API's door (the ``/admin`` router's guard): 403 while no admin token is configured,
    401 unless ``authorization`` bears it."""
    if not token:
        raise PermissionDenied(
            "The admin API is disabled: set admin_token in the config (or TOLLGATE_ADMIN_TOKEN) to enable it.",
            code="admin_api_disabled",
        )
    if not bearer_matches(authorization, token):
        raise AuthenticationFailed(
            "The admin API needs 'Authorization: Bearer <admin token>'; the token given is missing or wrong.",
            code="invalid_admin_token",
            headers={"www-authenticate": 'Bearer realm="tollgate-admin"'},
        )


def json_response(request: HttpRequest, body: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(
        _encode(body),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id_of(request)},
    )


async def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's body as a JSON object (anything else is a 400 in the OpenAI envelope)."""
    return decode_object(await request.body())
