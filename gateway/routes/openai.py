"""The OpenAI-compatible endpoints under ``/v1``."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.response import Stream

from backends.base import Operation
from gateway.auth.principal import Principal
from gateway.errors import HttpRequest, request_id_of
from gateway.metering.pricing import format_usd
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.decoding import decode_object, validate
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.models import ModelList
from gateway.services.catalog import model_not_found
from gateway.services.pipeline import Call, Pipeline
from gateway.state import AppState

_encode = msgspec.json.Encoder(decimal_format="number").encode


def _state(request: HttpRequest) -> AppState:
    state: AppState = request.app.state.tollgate
    return state


def _headers(request_id: str, deployment: str, started: float, upstream_seconds: float) -> dict[str, str]:
    overhead_ms = (time.perf_counter() - started - upstream_seconds) * 1000
    return {
        "x-request-id": request_id,
        "x-tollgate-backend": deployment,
        "x-tollgate-cache": "miss",
        "x-tollgate-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
    }


async def _serve(pipeline: Pipeline, principal: Principal, call: Call) -> Response[Any]:
    if call.stream:
        streaming = await pipeline.stream(principal, call)
        headers = _headers(call.request_id, streaming.deployment, call.started, streaming.upstream_seconds)
        headers["cache-control"] = "no-cache"
        return Stream(streaming.relay, media_type="text/event-stream", headers=headers)
    done = await pipeline.complete(principal, call)
    headers = _headers(call.request_id, done.deployment, call.started, done.upstream_seconds)
    headers["x-tollgate-cost-usd"] = format_usd(done.cost_micros)
    return Response(_encode(done.body), media_type="application/json", headers=headers)


async def _begin(request: HttpRequest) -> tuple[Pipeline, Principal, dict[str, Any], float]:
    """Authenticate first (a request without a valid key learns nothing else), then decode the body."""
    started = time.perf_counter()
    pipeline = _state(request).pipeline
    principal = await pipeline.authenticate(request.headers.get("authorization"))
    return pipeline, principal, decode_object(await request.body()), started


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: HttpRequest) -> Response[Any]:
    pipeline, principal, raw, started = await _begin(request)
    parsed = validate(raw, ChatCompletionRequest)
    parsed.check()
    call = Call(
        request_id_of(request), Operation.CHAT, parsed.model, raw, bool(parsed.stream), parsed.wants_usage, started
    )
    return await _serve(pipeline, principal, call)


@post("/v1/completions", status_code=200)
async def completions(request: HttpRequest) -> Response[Any]:
    pipeline, principal, raw, started = await _begin(request)
    parsed = validate(raw, CompletionRequest)
    parsed.check()
    call = Call(
        request_id_of(request),
        Operation.COMPLETIONS,
        parsed.model,
        raw,
        bool(parsed.stream),
        parsed.wants_usage,
        started,
    )
    return await _serve(pipeline, principal, call)


@post("/v1/embeddings", status_code=200)
async def embeddings(request: HttpRequest) -> Response[Any]:
    pipeline, principal, raw, started = await _begin(request)
    parsed = validate(raw, EmbeddingRequest)
    parsed.check()
    call = Call(request_id_of(request), Operation.EMBEDDINGS, parsed.model, raw, False, False, started)
    return await _serve(pipeline, principal, call)


@get("/v1/models")
async def list_models(request: HttpRequest) -> Response[bytes]:
    """The models this key may use."""
    state = _state(request)
    principal = await state.pipeline.authenticate(request.headers.get("authorization"))
    cards = [card for card in state.catalog.cards() if principal.may_use(card.id)]
    return Response(
        _encode(ModelList(data=cards)), media_type="application/json", headers={"x-request-id": request_id_of(request)}
    )


@get("/v1/models/{model_id:path}")
async def retrieve_model(request: HttpRequest, model_id: str) -> Response[bytes]:
    state = _state(request)
    principal = await state.pipeline.authenticate(request.headers.get("authorization"))
    name = model_id.lstrip("/")
    if not principal.may_use(name):
        raise model_not_found(name)
    card = state.catalog.card(name)
    return Response(_encode(card), media_type="application/json", headers={"x-request-id": request_id_of(request)})


ROUTES = [chat_completions, completions, embeddings, list_models, retrieve_model]
