"""The OpenAI-compatible endpoints under ``/v1``."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.response import Stream

from backends.base import Operation
from gateway.errors import HttpRequest, request_id_of
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.decoding import decode_object, validate
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.models import ModelList
from gateway.services import relay
from gateway.state import AppState

_encode = msgspec.json.Encoder().encode


def _state(request: HttpRequest) -> AppState:
    state: AppState = request.app.state.tollgate
    return state


def _headers(request: HttpRequest, deployment: str, started: float, upstream_seconds: float) -> dict[str, str]:
    overhead_ms = (time.perf_counter() - started - upstream_seconds) * 1000
    return {
        "x-request-id": request_id_of(request),
        "x-tollgate-backend": deployment,
        "x-tollgate-overhead-ms": f"{max(overhead_ms, 0.0):.3f}",
    }


async def _generate(
    request: HttpRequest,
    op: Operation,
    raw: dict[str, Any],
    model: str,
    stream: bool,
    wants_usage: bool,
    prompt_tokens: int,
    started: float,
) -> Response[Any]:
    state = _state(request)
    route = state.catalog.resolve(model, op)
    if stream:
        relayed = await relay.open_stream(
            route, op, raw, wants_usage=wants_usage, tokens=state.tokens, prompt_tokens=prompt_tokens
        )
        headers = _headers(request, route.deployment, started, relayed.upstream_first_chunk_seconds)
        headers["cache-control"] = "no-cache"
        return Stream(relayed, media_type="text/event-stream", headers=headers)
    answer = await relay.complete(route, op, raw)
    headers = _headers(request, route.deployment, started, answer.upstream_seconds)
    return Response(_encode(answer.body), media_type="application/json", headers=headers)


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: HttpRequest) -> Response[Any]:
    started = time.perf_counter()
    raw = decode_object(await request.body())
    parsed = validate(raw, ChatCompletionRequest)
    parsed.check()
    prompt_tokens = _state(request).tokens.count_chat(raw["messages"]) if parsed.stream else 0
    return await _generate(
        request, Operation.CHAT, raw, parsed.model, bool(parsed.stream), parsed.wants_usage, prompt_tokens, started
    )


@post("/v1/completions", status_code=200)
async def completions(request: HttpRequest) -> Response[Any]:
    started = time.perf_counter()
    raw = decode_object(await request.body())
    parsed = validate(raw, CompletionRequest)
    parsed.check()
    prompt_tokens = _state(request).tokens.count_prompt(parsed.prompt) if parsed.stream else 0
    return await _generate(
        request,
        Operation.COMPLETIONS,
        raw,
        parsed.model,
        bool(parsed.stream),
        parsed.wants_usage,
        prompt_tokens,
        started,
    )


@post("/v1/embeddings", status_code=200)
async def embeddings(request: HttpRequest) -> Response[Any]:
    started = time.perf_counter()
    raw = decode_object(await request.body())
    parsed = validate(raw, EmbeddingRequest)
    parsed.check()
    return await _generate(request, Operation.EMBEDDINGS, raw, parsed.model, False, False, 0, started)


@get("/v1/models")
async def list_models(request: HttpRequest) -> Response[bytes]:
    body = _encode(ModelList(data=_state(request).catalog.cards()))
    return Response(body, media_type="application/json", headers={"x-request-id": request_id_of(request)})


@get("/v1/models/{model_id:path}")
async def retrieve_model(request: HttpRequest, model_id: str) -> Response[bytes]:
    body = _encode(_state(request).catalog.card(model_id.lstrip("/")))
    return Response(body, media_type="application/json", headers={"x-request-id": request_id_of(request)})


ROUTES = [chat_completions, completions, embeddings, list_models, retrieve_model]
