"""A cached answer served again: as a fresh response body, or replayed as an SSE stream.

A replayed stream has the shape an upstream stream has, so SDKs cannot tell it apart: for chat, a
role chunk, content chunks, a chunk with the finish reason per choice; for completions, text chunks
and the finish reason; then the usage chunk when the client asked for it, then ``[DONE]``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

from backends.base import JSON, Operation
from gateway.cache import embeddings
from gateway.edge import sse

# Content is replayed a few words per chunk (as upstreams send it), not as one block.
_PIECE = re.compile(r"(?:\S+\s*){1,8}|\s+")


def fresh_body(stored: JSON, op: Operation, request_id: str, cost: Decimal) -> JSON:
    """The stored answer under this request's id and time, with this request's cost in its usage."""
    if op is Operation.EMBEDDINGS:
        return embeddings.fresh_body(stored, cost)
    if op is Operation.RESPONSES:  # passed through; the Responses service gives it this request's id
        usage = stored.get("usage")
        return {**stored, "created_at": int(time.time()), "usage": {**(usage or {}), "cost": cost}}
    prefix = "chatcmpl" if op is Operation.CHAT else "cmpl"
    body = {**stored, "id": f"{prefix}-{request_id}", "created": int(time.time())}
    usage = stored.get("usage")
    if isinstance(usage, dict):
        body["usage"] = {**usage, "cost": cost}
    return body


async def replay(body: JSON, op: Operation, *, wants_usage: bool) -> AsyncIterator[bytes]:
    """``body`` (from :func:`fresh_body`) as the SSE events of a stream."""
    for chunk in chunks(body, op, wants_usage=wants_usage):
        yield sse.event(chunk)
    yield sse.DONE


def chunks(body: JSON, op: Operation, *, wants_usage: bool) -> Iterator[JSON]:
    chat = op is Operation.CHAT
    head = {
        "id": body.get("id"),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": body.get("created"),
        "model": body.get("model"),
    }
    if body.get("system_fingerprint"):
        head["system_fingerprint"] = body["system_fingerprint"]
    for choice in body.get("choices") or ():
        for delta in _deltas(choice, chat):
            yield {**head, "choices": [delta]}
    if wants_usage and body.get("usage"):
        yield {**head, "choices": [], "usage": body["usage"]}


def _deltas(choice: dict[str, Any], chat: bool) -> Iterator[JSON]:
    index = choice.get("index", 0)
    if chat:
        message = choice.get("message") or {}
        yield _choice(index, chat, {"role": message.get("role") or "assistant", "content": ""})
        text = message.get("content") or ""
    else:
        text = choice.get("text") or ""
    for piece in _PIECE.findall(text):
        yield _choice(index, chat, {"content": piece} if chat else piece)
    yield {**_choice(index, chat, {} if chat else ""), "finish_reason": choice.get("finish_reason")}


def _choice(index: int, chat: bool, content: Any) -> JSON:
    if chat:
        return {"index": index, "delta": content, "logprobs": None, "finish_reason": None}
    return {"index": index, "text": content, "logprobs": None, "finish_reason": None}
