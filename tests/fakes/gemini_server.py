"""A local fake of Google's Gemini API (``v1beta``) that speaks its public wire format.

It checks what the real API checks that a translating client can get wrong: the API key (a wrong
one is HTTP 400 ``API_KEY_INVALID``, a missing one 403), unknown fields, missing ``contents``,
roles other than ``user``/``model``, parts without data or with empty text, media types, the
OpenAPI ``parameters`` schema (no ``additionalProperties``), function calls that do not follow a
user turn, and function responses that do not answer every call of the turn before. It answers
deterministically and counts one token per whitespace-separated word, 258 per image.

The answer echoes the last user text (``echo: <text>``), or the function responses it was given.
It calls the first declared function when ``toolConfig`` mode is ``ANY``, or under ``AUTO`` when
the text contains ``[[use_tool]]``; each call carries a ``thoughtSignature``, which must come back
on the first call of each model turn (as Gemini 3 demands) and be one it issued. Implicit caching:
a system instruction of at least 1,024 tokens seen before is reported in ``cachedContentTokenCount``.
Triggers in the last user text:

- ``[[think]]``: a thought part first and 5 ``thoughtsTokenCount``
- ``[[blocked]]``: no candidates, ``promptFeedback.blockReason: SAFETY``; ``[[safety]]``: finishReason SAFETY
- ``[[rate_limit]]``: 429 ``RESOURCE_EXHAUSTED`` with ``RetryInfo`` of 7 s; ``[[unavailable]]``: 503
- ``[[stream_error]]``: an error event after the first chunk; ``[[truncate_stream]]``: the stream
  ends before a finishReason; ``[[slow]]``: 200 words, one every 20 ms
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from tests.fakes.anthropic_server import ReceivedRequest
from tests.fakes.gemini_rules import ApiError, invalid, validate
from tests.fakes.served import serve_here

JSON = dict[str, Any]
API_KEY = "AIza-fake-gemini-key-0123456789"
MODEL = "gemini-fake-flash"
EMBEDDING_MODEL = "text-embedding-fake"
RETRY_AFTER = "7"
IMAGE_TOKENS = 258
# Implicit caching starts at this many prompt tokens (Gemini 2.5 Flash's minimum).
IMPLICIT_CACHE_MIN = 1024
_SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


@dataclass
class FakeGemini:
    """The running fake: set ``base_url`` (ending in ``/v1beta``) once served; what it observed."""

    base_url: str = ""
    api_key: str = API_KEY
    requests: list[ReceivedRequest] = field(default_factory=list)
    disconnects: int = 0
    signatures: set[str] = field(default_factory=set)
    _systems: set[str] = field(default_factory=set)
    _counter: int = 0

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:06d}"


def build_app(fake: FakeGemini) -> web.Application:
    app = web.Application()
    app.router.add_post("/v1beta/models/{target}", functools.partial(_call, fake))
    app.router.add_get("/v1beta/models", functools.partial(_models, fake))
    return app


@contextlib.asynccontextmanager
async def running_fake_gemini(*, api_key: str = API_KEY) -> AsyncIterator[FakeGemini]:
    """Serve the fake on 127.0.0.1 on a free port for the duration of the block."""
    fake = FakeGemini(api_key=api_key)
    async with serve_here(build_app(fake)) as url:
        fake.base_url = f"{url}/v1beta"
        yield fake


def _error_response(error: ApiError) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "status": error.status}}
    if error.details:
        body["error"]["details"] = error.details
    return web.json_response(body, status=error.code)


def _check_key(fake: FakeGemini, request: web.Request) -> None:
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if key is None:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without "
            "established identity). Please use API Key or other form of API consumer identity to call this API.",
        )
    if key != fake.api_key:
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
        raise ApiError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info])


async def _models(fake: FakeGemini, request: web.Request) -> web.Response:
    fake.requests.append(ReceivedRequest(request.method, request.path, dict(request.headers), None))
    try:
        _check_key(fake, request)
    except ApiError as error:
        return _error_response(error)
    models = [{"name": f"models/{MODEL}", "supportedGenerationMethods": ["generateContent"]}]
    return web.json_response({"models": models})


async def _call(fake: FakeGemini, request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].partition(":")
    body: Any = None
    with contextlib.suppress(msgspec.DecodeError):
        body = msgspec.json.decode(await request.read())
    fake.requests.append(ReceivedRequest(request.method, request.path_qs, dict(request.headers), body))
    try:
        _check_key(fake, request)
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        if method == "batchEmbedContents" and model == EMBEDDING_MODEL:
            return web.json_response(_embed(model, body))
        if method not in ("generateContent", "streamGenerateContent") or model != MODEL:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, or is not "
                f"supported for {method}. Call ListModels to see the list of available models.",
            )
        validate(body, fake.signatures)
        text = _last_user_text(body["contents"])
        _fault(text)
        answer = _answer(fake, body, text)
    except ApiError as error:
        return _error_response(error)
    if method == "generateContent":
        return web.json_response(answer)
    return await _stream(fake, request, answer, text)


def _last_user_text(contents: list[JSON]) -> str:
    users = [c for c in contents if c["role"] == "user"]
    return " ".join(p["text"] for p in users[-1]["parts"] if "text" in p) if users else ""


def _fault(text: str) -> None:
    if "[[rate_limit]]" in text:
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{RETRY_AFTER}s"}
        raise ApiError(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [retry],
        )
    if "[[unavailable]]" in text:
        raise ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


def _tokens(text: str) -> int:
    return len(text.split())


def _part_tokens(part: JSON) -> int:
    if "text" in part:
        return _tokens(part["text"])
    if "inlineData" in part or "fileData" in part:
        return IMAGE_TOKENS
    return _tokens(msgspec.json.encode(part).decode())


def _answer(fake: FakeGemini, body: JSON, text: str) -> JSON:
    system = body.get("systemInstruction") or {}
    system_tokens = sum(_part_tokens(p) for p in system.get("parts") or ())
    prompt = system_tokens + sum(_part_tokens(p) for c in body["contents"] for p in c["parts"])
    key = msgspec.json.encode(system).decode()
    cached = system_tokens if system_tokens >= IMPLICIT_CACHE_MIN and key in fake._systems else 0
    fake._systems.add(key)
    usage = {"promptTokenCount": prompt, "cachedContentTokenCount": cached} if cached else {"promptTokenCount": prompt}
    if "[[blocked]]" in text:
        return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {**usage, "totalTokenCount": prompt}}
    config = body.get("generationConfig") or {}
    candidates = [_candidate(fake, body, text, config, index) for index in range(config.get("candidateCount", 1))]
    output = sum(_part_tokens(p) for c in candidates for p in c["content"]["parts"] if not p.get("thought"))
    thoughts = 5 if "[[think]]" in text else 0
    usage |= {"candidatesTokenCount": output, "totalTokenCount": prompt + output + thoughts}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": f"{MODEL}-001",
        "responseId": fake.next_id("resp"),
    }


def _candidate(fake: FakeGemini, body: JSON, text: str, config: JSON, index: int) -> JSON:
    parts: list[JSON] = [{"text": "Let me think.", "thought": True}] if "[[think]]" in text else []
    function = _chosen_function(body, text)
    if function is not None:
        signature = fake.next_id("sig-")
        fake.signatures.add(signature)
        call = {
            "name": function["name"],
            "args": _sample(function.get("parametersJsonSchema") or function.get("parameters") or {}),
        }
        parts.append({"functionCall": call, "thoughtSignature": signature})
        return {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": index}
    answer, reason = _text_answer(body, text, config)
    parts.append({"text": answer if index == 0 else f"{answer} ({index})"})
    return {"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": index}


def _chosen_function(body: JSON, text: str) -> JSON | None:
    declarations = [d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if not declarations or mode == "NONE" or any("functionResponse" in p for p in body["contents"][-1]["parts"]):
        return None
    allowed = calling.get("allowedFunctionNames") or [d["name"] for d in declarations]
    if mode == "ANY" or "[[use_tool]]" in text:
        chosen: JSON = next(d for d in declarations if d["name"] in allowed)
        return chosen
    return None


def _sample(schema: JSON) -> Any:
    kind = str(schema.get("type", "")).lower()
    if kind == "object":
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"string": "sample", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(kind)


def _text_answer(body: JSON, text: str, config: JSON) -> tuple[str, str]:
    results = [p["functionResponse"] for p in body["contents"][-1]["parts"] if "functionResponse" in p]
    if results:
        answer = "tool said: " + " | ".join(str(r["response"].get("output", r["response"])) for r in results)
    elif "[[slow]]" in text:
        answer = "echo: " + " ".join(f"word{i}" for i in range(200))
    elif config.get("responseMimeType") == "application/json":
        answer = msgspec.json.encode(
            _sample(config.get("responseJsonSchema") or config.get("responseSchema") or {"type": "object"})
        ).decode()
    else:
        answer = f"echo: {text}"
    if "[[safety]]" in text:
        return "", "SAFETY"
    for sequence in config.get("stopSequences") or ():
        if sequence in answer:
            return answer[: answer.index(sequence)], "STOP"
    words = answer.split(" ")
    if len(words) > config.get("maxOutputTokens", 1 << 30):
        return " ".join(words[: config["maxOutputTokens"]]), "MAX_TOKENS"
    return answer, "STOP"


def _embed(model: str, body: JSON) -> JSON:
    embeddings = []
    for index, request in enumerate(body.get("requests") or ()):
        if request.get("model") != f"models/{model}":
            raise invalid(f"* BatchEmbedContentsRequest.requests[{index}].model: model must match the parent model.")
        texts = [p.get("text", "") for p in (request.get("content") or {}).get("parts") or ()]
        if not any(texts):
            raise invalid(f"* BatchEmbedContentsRequest.requests[{index}].content: content is not specified")
        size = request.get("outputDimensionality", 8)
        seed = sum(ord(c) for c in " ".join(texts))
        embeddings.append({"values": [((seed * (i + 1)) % 97) / 97 for i in range(size)]})
    if not embeddings:
        raise invalid("* BatchEmbedContentsRequest.requests: requests is not specified")
    if len(embeddings) > 100:
        raise invalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
    return {"embeddings": embeddings}


def _pieces(parts: list[JSON]) -> list[JSON]:
    """Text parts cut into words (as they stream); thoughts and function calls stay whole."""
    pieces: list[JSON] = []
    for part in parts:
        if "text" in part and not part.get("thought"):
            pieces.extend({**part, "text": t} for t in re.findall(r"\S*\s*", part["text"]) if t)
        else:
            pieces.append(part)
    return pieces


def _stream_events(answer: JSON) -> Iterator[JSON]:
    """Events as Gemini streams them: text in word pieces, each function call whole, the usage so
    far on every event, and each candidate's finishReason on its last; the full usage comes last."""
    head = {"modelVersion": answer["modelVersion"], "responseId": answer["responseId"]}
    usage = answer["usageMetadata"]
    partial = {"promptTokenCount": usage["promptTokenCount"], "totalTokenCount": usage["promptTokenCount"]}
    for number, candidate in enumerate(answer["candidates"]):
        pieces = _pieces(candidate["content"]["parts"])
        for position, part in enumerate(pieces or [None]):
            out: JSON = {"content": {"role": "model", "parts": [part] if part else []}, "index": candidate["index"]}
            final = position == max(len(pieces) - 1, 0)
            if final:
                out["finishReason"] = candidate["finishReason"]
            done = final and number == len(answer["candidates"]) - 1
            yield {"candidates": [out], "usageMetadata": usage if done else partial, **head}


async def _stream(fake: FakeGemini, request: web.Request, answer: JSON, text: str) -> web.StreamResponse:
    events = list(_stream_events(answer)) if "candidates" in answer else [answer]
    if request.query.get("alt") != "sse":  # without alt=sse Gemini streams one JSON array
        return web.json_response(events)
    response = web.StreamResponse(headers=_SSE_HEADERS)
    await response.prepare(request)
    try:
        for position, event in enumerate(events):
            if "[[truncate_stream]]" in text and position == len(events) - 1:
                break
            await response.write(b"data: " + msgspec.json.encode(event) + b"\r\n\r\n")
            if "[[stream_error]]" in text:
                error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
                await response.write(b"data: " + msgspec.json.encode(error) + b"\r\n\r\n")
                break
            if "[[slow]]" in text:
                await asyncio.sleep(0.02)
    except ConnectionResetError:  # the client went away: what a closed stream iterator must cause
        fake.disconnects += 1
        return response
    await response.write_eof()
    return response
