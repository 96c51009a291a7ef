"""``POST /v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings``, served on plain ASGI.

These three carry nearly all the traffic, so they skip the web framework's request and response
machinery (measured at about a fifth of the gateway's CPU per request: ``docs/benchmarks.md``).
Everything else, errors included, looks exactly as it does on the Litestar routes. They get what
they use as one object built with the app's state (:class:`Generation`), not the state itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import msgspec

from backends.base import Operation
from gateway.cache.policy import TTL_HEADER, parse_controls
from gateway.core.errors import MethodNotAllowed, TollgateError, UpstreamError
from gateway.core.ids import RequestIds
from gateway.edge import sse
from gateway.edge.asgi import (
    ClientGone,
    Message,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_bytes,
    unless_disconnected,
    write_stream,
)
from gateway.generation.pipeline import Call, Pipeline
from gateway.keys.principal import Principal
from gateway.metering.outcome import SHUT_DOWN
from gateway.metering.pricing import format_usd
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.decoding import decode_object, validate
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.limits import check_size

if TYPE_CHECKING:
    from gateway.observability.requests import RequestObserver

log = logging.getLogger("tollgate.errors")

_encode = msgspec.json.Encoder(decimal_format="number").encode

Handler = Callable[[str, float, Send], Awaitable[None]]  # (request id, perf_counter at arrival, send) -> None


@dataclass(frozen=True, slots=True)
class Endpoint:
    op: Operation
    model: type[ChatCompletionRequest] | type[CompletionRequest] | type[EmbeddingRequest]


ENDPOINTS = {
    "/v1/chat/completions": Endpoint(Operation.CHAT, ChatCompletionRequest),
    "/v1/completions": Endpoint(Operation.COMPLETIONS, CompletionRequest),
    "/v1/embeddings": Endpoint(Operation.EMBEDDINGS, EmbeddingRequest),
}


class Observed(Protocol):
    """What answering any plain-ASGI request uses: request ids and the observer that counts and logs
    it. :class:`Generation` has both, and so have the media and Responses endpoints' own objects."""

    @property
    def ids(self) -> RequestIds: ...

    @property
    def observer(self) -> RequestObserver: ...


@dataclass(frozen=True, slots=True)
class Generation:
    """What the generation endpoints use, built once when the app starts (``gateway/app.py``) and handed
    to :func:`serve` with every request. The two limits are settings that a reload leaves as they are."""

    pipeline: Pipeline
    observer: RequestObserver
    ids: RequestIds
    max_request_bytes: int
    max_messages: int


def answer_headers(
    observed: Observed, request_id: str, deployment: str, started: float, upstream_seconds: float
) -> dict[str, str]:
    overhead = max(time.perf_counter() - started - upstream_seconds, 0.0)
    observed.observer.answer_started(overhead)
    return {
        "x-request-id": request_id,
        "x-tollgate-backend": deployment,
        "x-tollgate-cache": "miss",
        "x-tollgate-overhead-ms": f"{overhead * 1000:.3f}",
    }


async def serve(generation: Generation, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    await answer_errors(
        generation,
        scope,
        send,
        lambda rid, started, answer: _generate(generation, endpoint, rid, started, scope, receive, answer),
    )


async def answer_errors(observed: Observed, scope: Scope, send: Send, handle: Handler) -> None:
    """Run ``handle(request_id, started, send)``, rendering what it raises as OpenAI's error envelope."""
    request_id = observed.ids.new()
    started = time.perf_counter()
    answer = _Answer(send)
    try:
        await handle(request_id, started, answer)
    except ClientGone:
        return
    except asyncio.CancelledError:  # the server's shutdown grace ran out: the work was cancelled and metered
        await _shutting_down(send, request_id, answer.begun)
    except Exception as exc:
        if answer.begun:  # too late for a status: the stream already ended the way it could
            log.exception("error after the answer began on %s", scope["path"])
            return
        error = exc if isinstance(exc, TollgateError) else _unexpected(scope, exc)
        if not isinstance(error, UpstreamError):  # upstream failures were metered, and observed, already
            seconds = time.perf_counter() - started
            observed.observer.refused(request_id, scope["path"], error.http_status, error.code, seconds)
        headers = {**error.headers, "x-request-id": request_id}
        await send_bytes(send, error.http_status, _encode(error.envelope()), headers)


class _Answer:
    """The server's ``send``, noting the answer's start (what an error after it can no longer change).
    A plain call that hands back ``send``'s awaitable: no coroutine of its own for each message."""

    __slots__ = ("_send", "begun")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.begun: Message = {}  # the answer's start, once sent

    def __call__(self, message: Message) -> Awaitable[None]:
        if not self.begun:
            self.begun = message
        result: Awaitable[None] = self._send(message)
        return result


class ShuttingDown(TollgateError):
    status = SHUT_DOWN  # as the usage record of the request it ends says
    default_code = "shutting_down"


async def _shutting_down(send: Send, request_id: str, begun: Message) -> None:
    """End the answer cleanly instead of with the server's 500: a 503 if it has not begun; an error
    event ending an event stream (so that SDKs raise it rather than take a cut answer as whole)."""
    error = ShuttingDown("The gateway is shutting down; retry the request.", headers={"retry-after": "1"})
    with contextlib.suppress(Exception):
        if not begun:
            headers = {**error.headers, "x-request-id": request_id}
            await send_bytes(send, error.http_status, _encode(error.envelope()), headers)
            return
        events = (b"content-type", b"text/event-stream") in begun.get("headers", ())
        last = sse.event(error.envelope()) if events else b""
        await send({"type": "http.response.body", "body": last, "more_body": False})


def _unexpected(scope: Scope, exc: Exception) -> TollgateError:
    log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
    return TollgateError("The gateway failed to handle this request; it has been logged.")


async def _generate(
    generation: Generation,
    endpoint: Endpoint,
    request_id: str,
    started: float,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    if scope["method"] != "POST":
        raise MethodNotAllowed(f"Method {scope['method']} is not allowed on {scope['path']}")
    pipeline = generation.pipeline
    # Authenticate first: a request without a valid key learns nothing else.
    principal = await pipeline.authenticate(header(scope, b"authorization"))
    raw = decode_object(await read_body(scope, receive, generation.max_request_bytes))
    parsed = validate(raw, endpoint.model)
    parsed.check()
    check_size(parsed, max_messages=generation.max_messages)
    stream = bool(getattr(parsed, "stream", False))
    wants_usage = bool(getattr(parsed, "wants_usage", False))
    controls = parse_controls(header(scope, b"cache-control"), header(scope, TTL_HEADER.encode()))
    region, session = header(scope, b"x-tollgate-region"), header(scope, b"x-session-id")
    call = Call(request_id, endpoint.op, parsed.model, raw, stream, wants_usage, started, controls, region, session)
    # From here a client that leaves cancels the work, the upstream call with it (docs/hardening.md).
    if stream:
        await unless_disconnected(receive, _stream(generation, principal, call, send))
        return
    done = await unless_disconnected(receive, pipeline.complete(principal, call))
    headers = answer_headers(generation, request_id, done.deployment, started, done.upstream_seconds)
    headers["x-tollgate-cost-usd"] = format_usd(done.cost_micros)
    headers.update(done.headers)
    await send_bytes(send, 200, _encode(done.body), headers)


async def _stream(generation: Generation, principal: Principal, call: Call, send: Send) -> None:
    """Open the stream and relay it, under one watch of the client from the request to the last byte."""
    streaming = await generation.pipeline.stream(principal, call)
    headers = answer_headers(
        generation, call.request_id, streaming.deployment, call.started, streaming.upstream_seconds
    )
    headers.update(streaming.headers)
    await write_stream(send, streaming.relay, headers)


def endpoint_for(scope: Scope) -> Endpoint | None:
    return ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
