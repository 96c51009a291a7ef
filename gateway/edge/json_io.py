"""JSON in and out of the Litestar handlers that validate their own bodies (the admin API, billing):
the body as an object, a wire model as the answer with the request's id, the empty query string."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from gateway.edge.errors import HttpRequest, request_id_of
from gateway.protocol.decoding import decode_object

_encode = msgspec.json.Encoder().encode


class NoQuery(msgspec.Struct, forbid_unknown_fields=True):
    pass


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
