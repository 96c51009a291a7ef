"""A local fake of OpenAI's HTTP API that speaks its real wire format.

Shapes follow the public API reference: ``chat.completion`` and ``chat.completion.chunk`` objects,
``text_completion``, ``list`` of ``embedding``, the error envelope, ``stream_options.include_usage``
(a final chunk with ``choices: []`` and ``usage``, and ``usage: null`` on the others).

Faults are chosen by the last user message (or prompt): ``trigger:status:CODE`` answers that HTTP
error, ``trigger:429`` adds ``retry-after``, ``trigger:slow`` waits 5 s, ``trigger:break`` cuts a
stream mid-way, ``trigger:stall`` stops sending after two chunks, ``trigger:nousage`` never sends
a usage chunk, ``trigger:garbage`` answers invalid JSON, ``trigger:midstream-error`` sends an error
event inside a stream, ``trigger:leaky`` a 500 whose message names internal addresses and a key.
The image and audio endpoints are in :mod:`tests.fakes.openai_media`, `/v1/responses` in
:mod:`tests.fakes.openai_responses`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import openai_media, openai_responses

API_KEY = "sk-fake-upstream"
WORDS = ["Hello", " from", " the", " fake", " OpenAI", " upstream", "."]


@dataclass
class FakeOpenAIState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0
    # Multipart requests (image edits, transcriptions): their fields and files, as received.
    forms: list[dict[str, Any]] = field(default_factory=list)


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _trigger(body: dict[str, Any]) -> str:
    if body.get("messages"):
        content = body["messages"][-1].get("content")
        text = content if isinstance(content, str) else json.dumps(content)
    else:
        text = str(body.get("prompt", body.get("input", "")))
    return text.split("trigger:", 1)[1].split()[0] if "trigger:" in text else ""


def _usage(body: dict[str, Any], completion: int) -> dict[str, Any]:
    """11 prompt tokens; with ``trigger:cached``, 8 of them cached and 2 completion tokens reasoning."""
    prompt = 11
    cached = 8 if _trigger(body) == "cached" else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 2 if cached else 0},
    }


# What a careless provider (or proxy in front of it) says on a 500: addresses and a key.
LEAKY_MESSAGE = (
    "worker http://10.0.7.3:8000/v1/chat failed (sidecar vllm-0.pool.svc:8000) while using key"
    " sk-proj-AbCdEf0123456789 with Authorization: Bearer tok_internal_42"
)


class FakeOpenAI:
    def __init__(self) -> None:
        self.state = FakeOpenAIState()
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/v1/chat/completions", self.chat),
                web.post("/v1/completions", self.completions),
                web.post("/v1/embeddings", self.embeddings),
                web.get("/v1/models", self.models),
            ]
        )
        self.app.add_routes(openai_media.routes(self))
        self.app.add_routes(openai_responses.routes(self))

    async def _admit(self, request: web.Request) -> tuple[dict[str, Any], str]:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            raise web.HTTPUnauthorized(
                text=json.dumps(error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")),
                content_type="application/json",
            )
        body = await request.json()
        self.state.requests.append(body)
        self.state.headers.append(dict(request.headers))
        trigger = _trigger(body)
        if trigger.startswith("status:"):
            code = int(trigger.split(":")[1])
            kind = "invalid_request_error" if code < 500 else "server_error"
            raise _http_error(code, f"fake upstream refused with {code}", kind)
        if trigger == "429":
            raise _http_error(429, "Rate limit reached for requests", "requests", {"retry-after": "7"})
        if trigger == "leaky":
            raise _http_error(500, LEAKY_MESSAGE, "server_error")
        if trigger == "slow":
            await asyncio.sleep(5)
        if trigger == "garbage":
            raise web.HTTPOk(text="<html>not json</html>", content_type="text/html")
        return body, trigger

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, trigger = await self._admit(request)
        n = body.get("n") or 1
        if body.get("stream"):
            return await self._stream(request, body, trigger, chat=True)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": "".join(WORDS), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        return web.json_response(
            {
                "id": "chatcmpl-fake123",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "system_fingerprint": "fp_fake",
                "choices": choices,
                "usage": _usage(body, len(WORDS) * n),
                "service_tier": "default",
            }
        )

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body, trigger = await self._admit(request)
        if body.get("stream"):
            return await self._stream(request, body, trigger, chat=False)
        return web.json_response(
            {
                "id": "cmpl-fake123",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "text": "".join(WORDS), "logprobs": None, "finish_reason": "stop"}],
                "usage": _usage(body, len(WORDS)),
            }
        )

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body, _ = await self._admit(request)
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]} for i in range(len(items))]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)},
            }
        )

    async def models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "gpt-fake", "object": "model", "created": 1700000000, "owned_by": "fake"}],
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], trigger: str, *, chat: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        self.state.streams_started += 1
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and trigger != "nousage"
        try:
            for position, chunk in enumerate(_chunks(body, chat, include_usage)):
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                if trigger == "break" and position == 3:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if trigger == "stall" and position == 2:
                    await _stall(response)
                if trigger == "midstream-error" and position == 2:
                    error = error_body("The server had an error while processing your request.", "server_error")
                    await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
                    return response
            await response.write(b"data: [DONE]\n\n")
            self.state.streams_finished += 1
        except (asyncio.CancelledError, ConnectionResetError):
            self.state.streams_cancelled += 1
            raise
        return response


async def _stall(response: web.StreamResponse) -> None:
    """Send nothing but SSE comments for 30 s; a write fails as soon as the peer has gone."""
    for _ in range(300):
        await asyncio.sleep(0.1)
        await response.write(b": still thinking\n\n")


def _http_error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    error = web.HTTPException(
        text=json.dumps(error_body(message, kind, "fake_refusal")), content_type="application/json", headers=headers
    )
    error.set_status(status)
    return error


def _chunks(body: dict[str, Any], chat: bool, include_usage: bool) -> list[dict[str, Any]]:
    head = {
        "id": "chatcmpl-fake123" if chat else "cmpl-fake123",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body["model"],
    }
    if chat:
        head["system_fingerprint"] = "fp_fake"
    extra = {"usage": None} if include_usage else {}
    out: list[dict[str, Any]] = []
    if chat:
        out.append(
            {
                **head,
                **extra,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    for word in WORDS:
        choice = (
            {"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}
            if chat
            else {"index": 0, "text": word, "logprobs": None, "finish_reason": None}
        )
        out.append({**head, **extra, "choices": [choice]})
    final = (
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        if chat
        else {"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}
    )
    out.append({**head, **extra, "choices": [final]})
    if include_usage:
        out.append({**head, "choices": [], "usage": _usage(body, len(WORDS))})
    return out
