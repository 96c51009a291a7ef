"""A local fake of Anthropic's Messages API that speaks its public wire format.

It checks what the real API checks that a translating client can get wrong (headers, required
fields, unknown fields, role alternation, tool_use/tool_result pairing, image sources, empty text
blocks), answers deterministically, and counts one token per whitespace-separated word.

The answer echoes the last user text (``echo: <text>``), or the tool results it was given. It
calls a tool when ``tool_choice`` forces one (``any`` / ``tool``), or under ``auto`` when the
text contains ``[[use_tool]]``. Prompt caching is modelled: the first request whose prefix ends at
a ``cache_control`` marker writes that prefix, the next identical prefix reads it.

Fault triggers in the last user text:

- ``[[overloaded]]``: HTTP 529 ``overloaded_error``
- ``[[rate_limit]]``: HTTP 429 ``rate_limit_error`` with ``retry-after: 7``
- ``[[break_stream]]``: the stream stops after one delta and the connection is cut
- ``[[truncate_stream]]``: the stream ends cleanly after the content, without message_stop
- ``[[stream_error]]``: an ``error`` event (``overloaded_error``) after one delta
- ``[[slow]]``: a long answer streamed one word every 20 ms, to observe client disconnects
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from tests.fakes.served import serve_here

JSON = dict[str, Any]
API_KEY = "sk-ant-fake-key"
RETRY_AFTER = "7"
MODEL = "claude-fake-1"
_VERSIONS = ("2023-01-01", "2023-06-01")
_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
}
_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_IMAGE_TOKENS = 85
_RATE_LIMITED = "Number of request tokens has exceeded your per-minute rate limit"
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


class ApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message, self.headers = status, error_type, message, headers or {}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAnthropic:
    """The running fake: its base URL (ending in ``/v1``) and what it observed."""

    base_url: str = ""
    api_key: str = API_KEY
    requests: list[ReceivedRequest] = field(default_factory=list)
    disconnects: int = 0
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _cached_prefixes: set[str] = field(default_factory=set)
    _counter: int = 0

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_fake{self._counter:06d}"


def build_app(fake: FakeAnthropic) -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/messages", functools.partial(_messages, fake))
    app.router.add_get("/v1/models", functools.partial(_models, fake))
    return app


@contextlib.asynccontextmanager
async def running_fake_anthropic(*, api_key: str = API_KEY) -> AsyncIterator[FakeAnthropic]:
    """Serve the fake on 127.0.0.1 on a free port for the duration of the block."""
    fake = FakeAnthropic(api_key=api_key)
    async with serve_here(build_app(fake)) as url:
        fake.base_url = f"{url}/v1"
        yield fake


def _error_response(fake: FakeAnthropic, error: ApiError) -> web.Response:
    request_id = fake.next_id("req")
    body = {"type": "error", "error": {"type": error.error_type, "message": error.message}, "request_id": request_id}
    return web.json_response(body, status=error.status, headers={"request-id": request_id, **error.headers})


def _check_headers(fake: FakeAnthropic, request: web.Request) -> None:
    key = request.headers.get("x-api-key")
    if key is None:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if key != fake.api_key:
        raise ApiError(401, "authentication_error", "invalid x-api-key")
    version = request.headers.get("anthropic-version")
    if version is None:
        raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")
    if version not in _VERSIONS:
        raise ApiError(400, "invalid_request_error", f'anthropic-version: "{version}" is not a valid version')


async def _models(fake: FakeAnthropic, request: web.Request) -> web.Response:
    fake.requests.append(ReceivedRequest(request.method, request.path, dict(request.headers), None))
    try:
        _check_headers(fake, request)
    except ApiError as error:
        return _error_response(fake, error)
    model = {"type": "model", "id": MODEL, "display_name": "Claude Fake", "created_at": "2025-01-01T00:00:00Z"}
    return web.json_response({"data": [model], "has_more": False, "first_id": MODEL, "last_id": MODEL})


async def _messages(fake: FakeAnthropic, request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        body: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = None
    fake.requests.append(ReceivedRequest(request.method, request.path, dict(request.headers), body))
    try:
        _check_headers(fake, request)
        _validate(body)
        _fault(_last_user_text(body["messages"]))
        message = _answer(fake, body)
    except ApiError as error:
        return _error_response(fake, error)
    if body.get("stream"):
        return await _stream(fake, request, message, _last_user_text(body["messages"]))
    return web.json_response(message, headers={"request-id": fake.next_id("req")})


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object")
    for name in sorted(set(body) - _FIELDS):
        raise _invalid(f"{name}: Extra inputs are not permitted")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise _invalid(f"{name}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise _invalid("max_tokens: Input should be a valid positive integer")
    if not 0 <= body.get("temperature", 0) <= 1:
        raise _invalid("temperature: range: 0..1")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: at least one message is required")
    if messages[0].get("role") != "user":
        raise _invalid('messages: first message must use the "user" role')
    for index, message in enumerate(messages):
        _validate_message(index, message, messages[index - 1] if index else None)


def _validate_message(index: int, message: Any, previous: Any) -> None:
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise _invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
    if previous is not None and previous["role"] == role:
        raise _invalid(
            f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
        )
    blocks = _blocks(message.get("content"))
    for position, block in enumerate(blocks):
        _validate_block(f"messages.{index}.content.{position}", block)
    offered = {b["id"] for b in _blocks(previous.get("content")) if b["type"] == "tool_use"} if previous else set()
    answered = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
    if answered - offered:
        raise _invalid(
            f"messages.{index}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
            f"{sorted(answered - offered)[0]}. Each `tool_result` block must have a corresponding "
            "`tool_use` block in the previous message."
        )
    if role == "user" and offered - answered:
        raise _invalid(
            f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
            f"after: {sorted(offered - answered)[0]}"
        )


def _validate_block(where: str, block: Any) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and not block.get("text"):
        raise _invalid("messages: text content blocks must be non-empty")
    elif kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64" and source.get("media_type") not in _MEDIA_TYPES:
            raise _invalid(
                f"{where}.image.source.base64.media_type: Input should be " + ", ".join(f"'{m}'" for m in _MEDIA_TYPES)
            )
        if source.get("type") not in ("base64", "url"):
            raise _invalid(f"{where}.image.source: Input tag does not match any of the expected tags")
    elif kind not in ("text", "tool_use", "tool_result"):
        raise _invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return content
    raise _invalid("messages: content must be a string or a list of content blocks")


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    blocks = _blocks(users[-1]["content"]) if users else []
    return " ".join(b["text"] for b in blocks if b.get("type") == "text")


def _fault(text: str) -> None:
    if "[[overloaded]]" in text:
        raise ApiError(529, "overloaded_error", "Overloaded")
    if "[[rate_limit]]" in text:
        raise ApiError(429, "rate_limit_error", _RATE_LIMITED, headers={"retry-after": RETRY_AFTER})


def _answer(fake: FakeAnthropic, body: JSON) -> JSON:
    text = _last_user_text(body["messages"])
    tool = _chosen_tool(body, text)
    if tool is not None:
        forced = body.get("tool_choice", {}).get("type") in ("any", "tool")
        blocks: list[JSON] = [] if forced else [{"type": "text", "text": f"Calling {tool['name']}."}]
        arguments = _sample(tool.get("input_schema", {}))
        blocks.append({"type": "tool_use", "id": fake.next_id("toolu"), "name": tool["name"], "input": arguments})
        stop_reason, stop_sequence = "tool_use", None
        output = sum(_tokens(_encode(b)) for b in blocks)
    else:
        answer, stop_reason, stop_sequence = _text_answer(body, text)
        blocks, output = [{"type": "text", "text": answer}], _tokens(answer)
    return {
        "id": fake.next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {**_input_usage(fake, body), "output_tokens": output},
    }


def _chosen_tool(body: JSON, text: str) -> JSON | None:
    tools, choice = body.get("tools") or [], body.get("tool_choice") or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return None
    if choice["type"] == "tool":
        named = [t for t in tools if t["name"] == choice["name"]]
        if not named:
            raise _invalid(f"tool_choice: tool '{choice['name']}' not found in tools")
        return dict(named[0])
    if choice["type"] == "any" or "[[use_tool]]" in text:
        return dict(tools[0])
    return None


def _sample(schema: JSON) -> Any:
    kind = schema.get("type")
    if kind == "object":
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"string": "sample", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(str(kind))


def _text_answer(body: JSON, text: str) -> tuple[str, str, str | None]:
    last = body["messages"][-1]
    results = [b for b in _blocks(last["content"]) if b.get("type") == "tool_result"]
    if results:
        answer = "tool said: " + " | ".join(_result_text(r) for r in results)
    elif "[[slow]]" in text:
        answer = "echo: " + " ".join(f"word{i}" for i in range(200))
    else:
        answer = f"echo: {text}"
    for sequence in body.get("stop_sequences") or ():
        if sequence in answer:
            return answer[: answer.index(sequence)], "stop_sequence", sequence
    words = answer.split(" ")
    if len(words) > body["max_tokens"]:
        return " ".join(words[: body["max_tokens"]]), "max_tokens", None
    return answer, "end_turn", None


def _result_text(result: JSON) -> str:
    content = result.get("content", "")
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)


def _tokens(text: str) -> int:
    return len(text.split())


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _segments(body: JSON) -> list[tuple[int, Any, bool]]:
    """(tokens, content, cache marker) in the order Anthropic caches: tools, system, messages."""
    segments = [(_tokens(_encode(t)), t, "cache_control" in t) for t in body.get("tools") or ()]
    system = body.get("system")
    for block in _blocks(system) if system else ():
        segments.append((_tokens(block["text"]), block, "cache_control" in block))
    for message in body["messages"]:
        for block in _blocks(message["content"]):
            tokens = _IMAGE_TOKENS if block["type"] == "image" else _tokens(_encode(block.get("text", block)))
            segments.append((tokens, block, "cache_control" in block))
    return segments


def _input_usage(fake: FakeAnthropic, body: JSON) -> JSON:
    segments = _segments(body)
    marks = [index for index, (_, _, marked) in enumerate(segments) if marked]
    total = sum(tokens for tokens, _, _ in segments)
    written = read = 0
    if marks:
        prefix = segments[: marks[-1] + 1]
        key = hashlib.sha256(_encode([body["model"], [content for _, content, _ in prefix]]).encode()).hexdigest()
        size = sum(tokens for tokens, _, _ in prefix)
        if key in fake._cached_prefixes:
            read = size
        else:
            fake._cached_prefixes.add(key)
            written = size
    fresh = total - written - read
    return {"input_tokens": fresh, "cache_creation_input_tokens": written, "cache_read_input_tokens": read}


def _sse(name: str, data: JSON) -> bytes:
    return f"event: {name}\ndata: {_encode({'type': name, **data})}\n\n".encode()


def _stream_events(message: JSON) -> list[bytes]:
    usage = {**message["usage"], "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    events = [_sse("message_start", {"message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(_sse("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}))
            if index == 0:
                events.append(_sse("ping", {}))
            deltas = [{"type": "text_delta", "text": piece} for piece in re.findall(r"\S*\s*", block["text"]) if piece]
        else:
            events.append(_sse("content_block_start", {"index": index, "content_block": {**block, "input": {}}}))
            arguments = _encode(block["input"])
            third = max(1, len(arguments) // 3)
            pieces = ["", *(arguments[i : i + third] for i in range(0, len(arguments), third))]
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        events.extend(_sse("content_block_delta", {"index": index, "delta": delta}) for delta in deltas)
        events.append(_sse("content_block_stop", {"index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    final_usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(_sse("message_delta", {"delta": delta, "usage": final_usage}))
    events.append(_sse("message_stop", {}))
    return events


async def _stream(fake: FakeAnthropic, request: web.Request, message: JSON, text: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={**_SSE_HEADERS, "request-id": fake.next_id("req")})
    await response.prepare(request)
    events = _stream_events(message)
    first_delta = next(i for i, e in enumerate(events) if e.startswith(b"event: content_block_delta"))
    try:
        for position, event in enumerate(events):
            await response.write(event)
            if "[[slow]]" in text:
                await asyncio.sleep(0.02)
            if position == first_delta and "[[stream_error]]" in text:
                error = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
                await response.write(_sse("error", error))
                break
            if position == first_delta and "[[break_stream]]" in text:
                assert request.transport is not None
                request.transport.close()  # cut the connection inside the chunked body
                return response
            if "[[truncate_stream]]" in text and event.startswith(b"event: message_delta"):
                break
    except ConnectionResetError:  # the client went away: what a closed stream iterator must cause
        fake.disconnects += 1
        fake.disconnected.set()
        return response
    await response.write_eof()
    return response
