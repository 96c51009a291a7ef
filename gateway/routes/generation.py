"""``POST /v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings``, served on plain ASGI.

These three carry nearly all the traffic, so they skip the web framework's request and response
machinery (measured at about a fifth of the gateway's CPU per request: ``docs/benchmarks.md``).
Everything else, errors included, looks exactly as it does on the Litestar routes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from backends.base import Operation
from backends.errors import MethodNotAllowed, TollgateError
from gateway.kit.asgi import ClientGone, Receive, Scope, Send, header, read_body, send_bytes, send_stream
from gateway.metering.pricing import format_usd
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.decoding import decode_object, validate
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.services.pipeline import Call
from gateway.state import AppState

log = logging.getLogger("tollgate.errors")

_encode = msgspec.json.Encoder(decimal_format="number").encode


@dataclass(frozen=True, slots=True)
class Endpoint:
    op: Operation
    model: type[ChatCompletionRequest] | type[CompletionRequest] | type[EmbeddingRequest]


ENDPOINTS = {
    "/v1/chat/completions": Endpoint(Operation.CHAT, ChatCompletionRequest),
    "/v1/completions": Endpoint(Operation.COMPLETIONS, CompletionRequest),
    "/v1/embeddings": Endpoint(Operation.EMBEDDINGS, EmbeddingRequest),
}


def _answer_headers(request_id: str, deployment: str, started: float, upstream_seconds: float) -> dict[str, str]:
    overhead_ms = (time.perf_counter() - started - upstream_seconds) * 1000
    return {
        "x-request-id": request_id,
        "x-tollgate-backend": deployment,
        "x-tollgate-cache": "miss",
        "x-tollgate-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
    }


async def serve(state: AppState, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    request_id = state.ids.new()
    answered = False

    async def answer(message: dict[str, Any]) -> None:
        nonlocal answered
        answered = True
        await send(message)

    try:
        await _generate(state, endpoint, request_id, scope, receive, answer)
    except ClientGone:
        return
    except Exception as exc:
        if answered:  # too late for a status: the stream already ended the way it could
            log.exception("error after the answer began on %s", scope["path"])
            return
        error = exc if isinstance(exc, TollgateError) else _unexpected(scope, exc)
        headers = {**error.headers, "x-request-id": request_id}
        await send_bytes(send, error.http_status, _encode(error.envelope()), headers)


def _unexpected(scope: Scope, exc: Exception) -> TollgateError:
    log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
    return TollgateError("The gateway failed to handle this request; it has been logged.")


async def _generate(
    state: AppState, endpoint: Endpoint, request_id: str, scope: Scope, receive: Receive, send: Send
) -> None:
    started = time.perf_counter()
    if scope["method"] != "POST":
        raise MethodNotAllowed(f"Method {scope['method']} is not allowed on {scope['path']}")
    pipeline = state.pipeline
    # Authenticate first: a request without a valid key learns nothing else.
    principal = await pipeline.authenticate(header(scope, b"authorization"))
    raw = decode_object(await read_body(scope, receive, state.settings.max_request_bytes))
    parsed = validate(raw, endpoint.model)
    parsed.check()
    stream = bool(getattr(parsed, "stream", False))
    wants_usage = bool(getattr(parsed, "wants_usage", False))
    region, session = header(scope, b"x-tollgate-region"), header(scope, b"x-session-id")
    call = Call(request_id, endpoint.op, parsed.model, raw, stream, wants_usage, started, region, session)
    if stream:
        streaming = await pipeline.stream(principal, call)
        headers = _answer_headers(request_id, streaming.deployment, started, streaming.upstream_seconds)
        headers.update(streaming.headers)
        await send_stream(send, receive, streaming.relay, headers)
        return
    done = await pipeline.complete(principal, call)
    headers = _answer_headers(request_id, done.deployment, started, done.upstream_seconds)
    headers["x-tollgate-cost-usd"] = format_usd(done.cost_micros)
    headers.update(done.headers)
    await send_bytes(send, 200, _encode(done.body), headers)


def endpoint_for(scope: Scope) -> Endpoint | None:
    return ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
