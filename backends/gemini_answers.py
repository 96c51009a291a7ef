"""Translation of Google Gemini's answers and errors into OpenAI's shapes, without I/O.

Usage is normalised to OpenAI's meaning: ``prompt_tokens`` counts every input token (Gemini's
``promptTokenCount`` already holds the cached ones, reported as ``cached_tokens``), and
``completion_tokens`` holds the thinking tokens (``thoughtsTokenCount``, which Gemini counts apart
from ``candidatesTokenCount``) as ``reasoning_tokens``.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from backends import chat_parts
from backends.base import JSON
from backends.gemini_wire import SIGNATURE_SEPARATOR
from gateway.core.errors import UpstreamProtocolError, UpstreamStatusError

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"} | {reason: "content_filter" for reason in _FILTERED}
# Gemini's canonical error status -> the OpenAI error type a client expects for it.
_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "NOT_FOUND": "invalid_request_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "INTERNAL": "server_error",
    "UNAVAILABLE": "server_error",
    "DEADLINE_EXCEEDED": "timeout",
}
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def new_call_id(signature: Any = None) -> str:
    """An OpenAI tool call id; Gemini's thought signature of the call rides along (see gemini_wire)."""
    call_id = f"call_{secrets.token_hex(12)}"
    return f"{call_id}{SIGNATURE_SEPARATOR}{signature}" if isinstance(signature, str) and signature else call_id


def finish_reason(reason: Any, *, called: bool) -> str:
    """OpenAI's finish reason; a turn that ended in function calls ends in ``tool_calls``."""
    mapped = _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if called and mapped == "stop" else mapped


def openai_usage(metadata: Any) -> JSON:
    counts = metadata if isinstance(metadata, Mapping) else {}

    def count(name: str) -> int:
        value = counts.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    # Tool-use prompts (results Gemini's own tools fed back to the model) are input too.
    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    completion = count("candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(count("cachedContentTokenCount"), prompt)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _parts(candidate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return [part for part in parts if isinstance(part, Mapping)] if isinstance(parts, list) else []


def _text(parts: Sequence[Mapping[str, Any]]) -> str:
    # Thought summaries (``thought: true``) are the model's thinking, not its answer.
    return "".join(str(part["text"]) for part in parts if "text" in part and not part.get("thought"))


def _tool_calls(parts: Sequence[Mapping[str, Any]]) -> list[JSON]:
    calls = []
    for part in parts:
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            calls.append(
                chat_parts.tool_call(new_call_id(part.get("thoughtSignature")), call.get("name"), call.get("args"))
            )
    return calls


def _check_prompt(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The answer's candidates; a prompt Gemini refused to answer at all is the caller's 400."""
    candidates = answer.get("candidates")
    feedback = answer.get("promptFeedback")
    blocked = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    if blocked and not candidates:
        raise UpstreamStatusError(
            f"gemini refused the prompt ({blocked})",
            upstream_status=400,
            upstream_type="invalid_request_error",
            code="content_filter",
        )
    if not isinstance(candidates, list) or not all(isinstance(c, Mapping) for c in candidates):
        raise UpstreamProtocolError("gemini answered without a list of candidates")
    return candidates


def to_chat_completion(answer: Mapping[str, Any], *, model: Any, created: int) -> JSON:
    """The OpenAI ``chat.completion`` for a ``generateContent`` answer."""
    choices = []
    for position, candidate in enumerate(_check_prompt(answer)):
        parts = _parts(candidate)
        calls = _tool_calls(parts)
        text = _text(parts)
        message = chat_parts.assistant_reply(text if text or not calls else None, calls)
        reason = finish_reason(candidate.get("finishReason"), called=bool(calls))
        index = candidate.get("index", position)
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
    return {
        "id": f"chatcmpl-{answer.get('responseId') or secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": created,
        "model": answer.get("modelVersion") or model,
        "choices": sorted(choices, key=lambda choice: choice["index"]),
        "usage": openai_usage(answer.get("usageMetadata")),
    }


def to_embeddings(answer: Mapping[str, Any], *, model: str, prompt_tokens: int, as_base64: bool) -> JSON:
    """The OpenAI embeddings list for a ``batchEmbedContents`` answer (which counts no tokens:
    the caller counts them)."""
    embeddings = answer.get("embeddings")
    if not isinstance(embeddings, list):
        raise UpstreamProtocolError("gemini answered without a list of embeddings")
    data = []
    for index, embedding in enumerate(embeddings):
        values = embedding.get("values") if isinstance(embedding, Mapping) else None
        if not isinstance(values, list):
            raise UpstreamProtocolError("gemini answered an embedding without values")
        vector: Any = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if as_base64 else values
        data.append({"object": "embedding", "index": index, "embedding": vector})
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def status_error(status: int, headers: Mapping[str, str], body: bytes | Any) -> UpstreamStatusError:
    """The error for Gemini's ``{"error": {"code", "message", "status", "details"}}``.

    An invalid API key is HTTP 400 at Gemini; it is the operator's credential that failed, so it is
    raised as a 401 (which the client sees as 502 ``upstream_auth_failed``). ``RetryInfo`` becomes
    ``retry-after``."""
    decoded = _decode(body)
    if isinstance(decoded, list) and decoded:  # the JSON-array framing of an unframed stream
        decoded = decoded[0]
    error = decoded.get("error") if isinstance(decoded, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    grpc_status = str(error.get("status") or "") or None
    details = [d for d in error.get("details") or () if isinstance(d, Mapping)]
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        status = 401
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = (body.decode(errors="replace")[:500] if isinstance(body, bytes) else "") or f"HTTP {status}"
    forwarded = {"retry-after": headers["retry-after"]} if "retry-after" in headers else {}
    delay = next((d.get("retryDelay") for d in details if "RetryInfo" in str(d.get("@type"))), None)
    match = _DELAY.match(delay) if isinstance(delay, str) else None
    if match and not forwarded:
        forwarded["retry-after"] = str(max(1, math.ceil(float(match.group(1)))))
    return UpstreamStatusError(
        message,
        upstream_status=status,
        upstream_type=_ERROR_TYPES.get(grpc_status or "", "server_error" if status >= 500 else None),
        code=grpc_status.lower() if grpc_status else None,
        headers=forwarded,
    )


def _decode(body: bytes | Any) -> Any:
    if not isinstance(body, bytes):
        return body
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


class StreamTranslator:
    """Turns the answers of ``streamGenerateContent?alt=sse`` (each a partial
    ``GenerateContentResponse``) into OpenAI ``chat.completion.chunk`` dicts.

    :meth:`feed` returns the chunks for one event; an ``error`` object raises. Gemini sends no end
    marker: :meth:`finish` is called when the stream ends, and returns the usage chunk
    (``choices: []``) if every candidate finished, else raises :class:`UpstreamProtocolError`.
    """

    def __init__(self, *, model: Any, created: int) -> None:
        self._model = model
        self._created = created
        self._id: str | None = None
        self._usage: Any = None
        self._calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self._finished: dict[int, bool] = {}

    def feed(self, data: Mapping[str, Any]) -> list[JSON]:
        if "error" in data:
            raise status_error(_stream_status(data), {}, data)
        chunks: list[JSON] = []
        if self._id is None:
            self._id = f"chatcmpl-{data.get('responseId') or secrets.token_hex(12)}"
            self._model = data.get("modelVersion") or self._model
        if data.get("usageMetadata") is not None:
            self._usage = data["usageMetadata"]  # each event carries the counts so far
        feedback = data.get("promptFeedback")
        blocked = isinstance(feedback, Mapping) and feedback.get("blockReason")
        for position, candidate in enumerate(_check_prompt(data) if "candidates" in data or blocked else ()):
            chunks.extend(self._candidate(candidate.get("index", position), candidate))
        return chunks

    def _candidate(self, index: int, candidate: Mapping[str, Any]) -> list[JSON]:
        chunks = []
        if index not in self._finished:
            self._finished[index] = False
            chunks.append(self._chunk(index, {"role": "assistant", "content": ""}))
        parts = _parts(candidate)
        text = _text(parts)
        if text:
            chunks.append(self._chunk(index, {"content": text}))
        calls = _tool_calls(parts)  # Gemini streams each function call whole, in one part
        for call in calls:
            call["index"] = self._calls.get(index, 0)
            self._calls[index] = call["index"] + 1
        if calls:
            chunks.append(self._chunk(index, {"tool_calls": calls}))
        if candidate.get("finishReason"):
            self._finished[index] = True
            reason = finish_reason(candidate["finishReason"], called=bool(self._calls.get(index)))
            chunks.append(self._chunk(index, {}, reason))
        return chunks

    def _chunk(self, index: int, delta: JSON, finish: str | None = None) -> JSON:
        return chat_parts.chunk(self._id, self._created, self._model, delta, finish, index=index)

    def finish(self) -> list[JSON]:
        if not self._finished or not all(self._finished.values()):
            raise UpstreamProtocolError("gemini ended the stream before a finishReason")
        return [{**self._chunk(0, {}), "choices": [], "usage": openai_usage(self._usage)}]


def _stream_status(data: Mapping[str, Any]) -> int:
    """The status of an error event inside a 200 stream: its own ``code``, else 502."""
    error = data.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    return code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600 else 502
