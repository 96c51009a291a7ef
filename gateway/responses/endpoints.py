"""``/v1/responses`` (+ ``/{id}``, ``/{id}/input_items``), served on plain ASGI beside the chat endpoints.

Creating a response is generation traffic, so it takes the generation endpoints' path (no web
framework per request), their error rendering and their answer headers; a stream is relayed as
the Responses event stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import msgspec

from backends.base import Operation
from gateway.cache.policy import TTL_HEADER, parse_controls
from gateway.core.errors import MethodNotAllowed, NotFound
from gateway.core.ids import RequestIds
from gateway.edge.asgi import Receive, Scope, Send, header, read_body, send_bytes, send_stream, unless_disconnected
from gateway.generation.endpoints import answer_errors, answer_headers
from gateway.generation.pipeline import Call, Pipeline
from gateway.metering.pricing import format_usd
from gateway.observability.requests import RequestObserver
from gateway.protocol.decoding import decode_object, validate, validate_query
from gateway.protocol.responses import InputItemsQuery, ResponseRequest
from gateway.responses.service import ResponsesService

PATH = "/v1/responses"
_encode = msgspec.json.Encoder(decimal_format="number").encode


@dataclass(frozen=True, slots=True)
class Responses:
    """What the Responses endpoints use, built once when the app starts and handed to :func:`serve` with
    every request, as :class:`~gateway.generation.endpoints.Generation` is to the chat endpoints. The body
    limit is a setting that a reload leaves as it is."""

    pipeline: Pipeline
    service: ResponsesService
    observer: RequestObserver
    ids: RequestIds
    max_request_bytes: int


def handles(scope: Scope) -> bool:
    if scope["type"] != "http":  # lifespan scopes have no path
        return False
    path: str = scope["path"]
    return path == PATH or path.startswith(PATH + "/")


async def serve(responses: Responses, scope: Scope, receive: Receive, send: Send) -> None:
    await answer_errors(
        responses, scope, send, lambda rid, started, answer: _route(responses, rid, started, scope, receive, answer)
    )


async def _route(
    responses: Responses, request_id: str, started: float, scope: Scope, receive: Receive, send: Send
) -> None:
    method, path = scope["method"], scope["path"]
    if path == PATH:
        if method != "POST":
            raise MethodNotAllowed(f"Method {method} is not allowed on {path}")
        await _create(responses, request_id, started, scope, receive, send)
        return
    response_id, _, rest = path.removeprefix(PATH + "/").partition("/")
    service = responses.service
    principal = await responses.pipeline.authenticate(header(scope, b"authorization"))
    if not response_id or rest not in ("", "input_items"):
        raise NotFound(f"Unknown request URL: {method} {path}.", code="unknown_url")
    allowed = ("GET",) if rest else ("GET", "DELETE")
    if method not in allowed:
        raise MethodNotAllowed(f"Method {method} is not allowed on {path}")
    if rest:
        query = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")))
        body = await service.input_items(principal, response_id, validate_query(query, InputItemsQuery))
    elif method == "DELETE":
        body = await service.delete(principal, response_id)
    else:
        body = await service.retrieve(principal, response_id)
    await send_bytes(send, 200, _encode(body), {"x-request-id": request_id})


async def _create(
    responses: Responses, request_id: str, started: float, scope: Scope, receive: Receive, send: Send
) -> None:
    principal = await responses.pipeline.authenticate(header(scope, b"authorization"))
    raw = decode_object(await read_body(scope, receive, responses.max_request_bytes))
    request = validate(raw, ResponseRequest)
    request.check(raw)
    controls = parse_controls(header(scope, b"cache-control"), header(scope, TTL_HEADER.encode()))
    region, session = header(scope, b"x-tollgate-region"), header(scope, b"x-session-id")
    call = Call(request_id, Operation.CHAT, request.model, raw, False, False, started, controls, region, session)
    # From here a client that leaves cancels the work, the upstream call with it.
    created = await unless_disconnected(receive, responses.service.create(principal, request, call))
    headers = answer_headers(responses, request_id, created.deployment, started, created.upstream_seconds)
    headers.update(created.headers)
    if created.events is not None:
        await send_stream(send, receive, created.events, headers)
        return
    headers["x-tollgate-cost-usd"] = format_usd(created.cost_micros)
    await send_bytes(send, 200, _encode(created.body), headers)
