"""Reading a batch's input file: one request per JSONL line, checked as OpenAI checks them.

Each line is ``{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}``; the
custom ids are unique, every body names the same model and passes the endpoint's own checks, and
there are at most ``MAX_LINES`` lines. A file that fails any of them fails the batch, with one error
per offending line (the first ``MAX_REPORTED``), and nothing is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from backends.base import Operation
from gateway.config.batches import MAX_LINES
from gateway.core.errors import TollgateError
from gateway.protocol.batches import BatchError
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.decoding import validate
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.limits import check_size
from gateway.protocol.responses import ResponseRequest

MAX_REPORTED = 100
MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class Target:
    """What a batch's endpoint runs: the pipeline's operation and the wire model its bodies pass."""

    op: Operation
    model: type[ChatCompletionRequest] | type[EmbeddingRequest] | type[ResponseRequest]


TARGETS = {
    "/v1/chat/completions": Target(Operation.CHAT, ChatCompletionRequest),
    "/v1/embeddings": Target(Operation.EMBEDDINGS, EmbeddingRequest),
    # Run through the Responses service (gateway/responses), which translates to a chat completion.
    "/v1/responses": Target(Operation.CHAT, ResponseRequest),
}


@dataclass(frozen=True, slots=True)
class InputLine:
    line: int  # 1-based
    custom_id: str
    model: str
    body: bytes  # the body, JSON


@dataclass(frozen=True, slots=True)
class ReadInput:
    lines: list[InputLine]
    errors: list[BatchError]


class _Refused(Exception):
    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.error = (code, message, param)


def read_input(content: bytes, endpoint: str, max_messages: int) -> ReadInput:
    """The file's requests, or the errors that fail the batch (then ``lines`` means nothing)."""
    target = TARGETS[endpoint]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return ReadInput([], [BatchError("invalid_file", "The input file is not UTF-8 text.")])
    raw_lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not raw_lines:
        return ReadInput([], [BatchError("empty_file", "The input file holds no requests.")])
    if len(raw_lines) > MAX_LINES:
        message = f"The input file holds {len(raw_lines)} requests; a batch may hold at most {MAX_LINES}."
        return ReadInput([], [BatchError("too_many_requests", message)])
    lines: list[InputLine] = []
    errors: list[BatchError] = []
    seen: set[str] = set()
    for number, line in raw_lines:
        try:
            parsed = _read_line(line, endpoint, target, max_messages)
            if parsed.custom_id in seen:
                raise _Refused("duplicate_custom_id", f"The custom_id '{parsed.custom_id}' is used twice.", "custom_id")
            if lines and parsed.model != lines[0].model:
                message = f"Every request of a batch names one model; line {lines[0].line} names '{lines[0].model}'."
                raise _Refused("mismatched_model", message, "body.model")
        except _Refused as refused:
            code, message, param = refused.error
            if len(errors) < MAX_REPORTED:
                errors.append(BatchError(code, message, line=number, param=param))
            continue
        seen.add(parsed.custom_id)
        lines.append(InputLine(number, parsed.custom_id, parsed.model, parsed.body))
    return ReadInput(lines, errors)


def _read_line(line: str, endpoint: str, target: Target, max_messages: int) -> InputLine:
    try:
        request = msgspec.json.decode(line)
    except msgspec.DecodeError:
        raise _Refused("invalid_json_line", "This line is not parseable as valid JSON.") from None
    if not isinstance(request, dict):
        raise _Refused("invalid_json_line", "Each line must be a JSON object.")
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        message = f"'custom_id' must be a non-empty string of at most {MAX_CUSTOM_ID} characters."
        raise _Refused("missing_required_parameter", message, "custom_id")
    if request.get("method") != "POST":
        raise _Refused("invalid_method", "'method' must be 'POST'.", "method")
    if request.get("url") != endpoint:
        raise _Refused("mismatched_endpoint", f"'url' must be the batch's endpoint, '{endpoint}'.", "url")
    body = request.get("body")
    if not isinstance(body, dict):
        raise _Refused("missing_required_parameter", "'body' must be a JSON object.", "body")
    return InputLine(0, custom_id, _checked_model(body, target, max_messages), msgspec.json.encode(body))


def _checked_model(body: dict[str, Any], target: Target, max_messages: int) -> str:
    """The body's model, once the body passes the checks its endpoint makes on interactive requests."""
    if body.get("stream"):
        raise _Refused("invalid_request", "Batch requests cannot be streamed: leave 'stream' out.", "body.stream")
    try:
        parsed = validate(body, target.model)
        if isinstance(parsed, ResponseRequest):
            parsed.check(body)
        else:
            parsed.check()
            check_size(parsed, max_messages=max_messages)
    except TollgateError as exc:
        param = f"body.{exc.param}" if exc.param else "body"
        raise _Refused(exc.code or "invalid_request", exc.message, param) from None
    return parsed.model
