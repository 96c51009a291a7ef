"""Translation between OpenAI chat completions and AWS Bedrock's Converse API, without I/O.

Converse is one message shape for every Bedrock model: content blocks keyed by kind (``{"text"}``,
``{"image"}``, ``{"toolUse"}``, ``{"toolResult"}``), the system prompt apart, sampling parameters
under ``inferenceConfig`` and tools under ``toolConfig``. The model id travels in the URL, not in
the body. Usage is normalised to OpenAI's meaning, as for Anthropic: Bedrock's ``inputTokens``
leaves out cache reads and writes, ``prompt_tokens`` counts them all.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from backends import chat_parts
from backends.base import JSON
from backends.chat_parts import bad_message
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError

_FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length"}
_FINISH_REASONS |= {"model_context_window_exceeded": "length"}
_FINISH_REASONS |= {"guardrail_intervened": "content_filter", "content_filtered": "content_filter"}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif"}
_IMAGE_FORMATS |= {"image/webp": "webp"}
_EMPTY_SCHEMA = {"type": "object", "properties": {}}
_TOOL_CHOICES: dict[str, JSON] = {"auto": {"auto": {}}, "required": {"any": {}}}
# Bedrock's exceptions: (status the client sees, OpenAI error type). A model that is loading is
# unavailable, not the caller's rate; a model id the upstream lacks is the deployment's fault, not
# the client's (its model exists at the gateway), so it is a 502 that falls back.
_EXCEPTIONS = {
    "ValidationException": (400, "invalid_request_error"),
    "ConflictException": (400, "invalid_request_error"),
    "AccessDeniedException": (403, "permission_error"),
    "UnrecognizedClientException": (403, "authentication_error"),
    "InvalidSignatureException": (403, "authentication_error"),
    "ExpiredTokenException": (403, "authentication_error"),
    "ResourceNotFoundException": (502, "upstream_error"),
    "ThrottlingException": (429, "rate_limit_error"),
    "ServiceQuotaExceededException": (429, "rate_limit_error"),
    "ModelNotReadyException": (503, "server_error"),
    "ModelTimeoutException": (504, "timeout_error"),
    "ServiceUnavailableException": (503, "server_error"),
    "InternalServerException": (502, "server_error"),
    "ModelErrorException": (502, "server_error"),
    "ModelStreamErrorException": (502, "server_error"),
}
THROTTLE_RETRY_AFTER = "1"
_CONTEXT_OVERFLOW = re.compile(r"too long|context (?:length|window)|maximum context", re.I)


def to_converse_request(body: Mapping[str, Any]) -> JSON:
    """The Converse body for an OpenAI chat request (the model goes in the URL); raise
    :class:`InvalidRequest` for what Converse cannot do. Parameters that change nothing the
    caller sees (``seed``, ``user``, ``stream_options``...) are dropped."""
    chat_parts.reject_beyond_one_text_choice(body, "bedrock")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system, turns = _convert_messages(messages)
    request: JSON = {"messages": turns}
    if system:
        request["system"] = system
    inference = _inference_config(body)
    if inference:
        request["inferenceConfig"] = inference
    tool_config = _tool_config(body, turns)
    if tool_config:
        request["toolConfig"] = tool_config
    return request


def _inference_config(body: Mapping[str, Any]) -> JSON:
    config: JSON = {}
    maximum = chat_parts.max_tokens(body)
    if maximum is not None:
        config["maxTokens"] = maximum
    for openai_name, converse_name in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(openai_name) is not None:
            config[converse_name] = body[openai_name]
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [] if stop is None else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidRequest("stop must be a non-empty string or a list of them", param="stop")
    if stops:
        config["stopSequences"] = stops
    return config


def _convert_messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """System/developer messages become the ``system`` blocks; the rest alternate user/assistant
    turns, consecutive same-role messages (the tool results of one turn) merged, as Converse requires."""
    return chat_parts.split_messages(messages, _blocks, _turn)


def _turn(role: Any, message: Mapping[str, Any], position: int) -> tuple[str, list[JSON]]:
    if role == "user":
        return "user", _blocks(message.get("content"), position, images=True)
    if role == "assistant":
        blocks = _blocks(message.get("content"), position)
        blocks.extend(_tool_use(call, position) for call in message.get("tool_calls") or ())
        return "assistant", blocks
    if role == "tool":
        return "user", [_tool_result(message, position)]
    raise bad_message(position, f"role {role!r} is not supported")


def _blocks(content: Any, position: int, *, images: bool = False) -> list[JSON]:
    """Converse content blocks for an OpenAI message content. A part's ``cache_control`` (the
    Anthropic extension the anthropic backend honours too) becomes a ``cachePoint`` after it."""
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise bad_message(position, "content must be a string or a list")
    blocks: list[JSON] = []
    for part in content:
        block = _part_block(part, position, images=images)
        if block is not None:
            blocks.append(block)
        if isinstance(part, Mapping) and "cache_control" in part:
            blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def _part_block(part: Any, position: int, *, images: bool) -> JSON | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind in ("text", "refusal"):
        return {"text": str(part[kind])} if part.get(kind) else None  # Converse rejects empty text
    if kind == "image_url" and images:
        return {"image": _image(part.get("image_url"), position)}
    raise bad_message(position, f"content part type {kind!r} is not supported here")


def _image(image: Any, position: int) -> JSON:
    url = chat_parts.image_url(image, position)
    if url.startswith("s3://"):
        raise bad_message(position, "s3:// image URLs are not supported; send the image as a base64 data URL")
    if not url.startswith("data:"):
        raise bad_message(position, "bedrock takes images as base64 data URLs only, not http(s) URLs")
    header, comma, data = url[len("data:") :].partition(",")
    media_type, *params = header.split(";")
    if not comma or params[-1:] != ["base64"]:
        raise bad_message(position, "image data URLs must be base64")
    image_format = _IMAGE_FORMATS.get(media_type.lower())
    if image_format is None:
        raise bad_message(position, f"image type {media_type!r} is not one of png, jpeg, gif, webp")
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise bad_message(position, "the image data is not valid base64") from exc
    # A blob travels base64-encoded in Converse's JSON: the data URL's payload as it is.
    return {"format": image_format, "source": {"bytes": data}}


def _tool_use(call: Any, position: int) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not function.get("name") or not call.get("id"):
        raise bad_message(position, "each tool call needs an id and a function name")
    parsed = chat_parts.tool_call_arguments(function, position)
    return {"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": parsed}}


def _tool_result(message: Mapping[str, Any], position: int) -> JSON:
    if not message.get("tool_call_id"):
        raise bad_message(position, "a tool message needs tool_call_id")
    content = message.get("content")
    blocks = _blocks(content, position)
    return {"toolResult": {"toolUseId": message["tool_call_id"], "content": blocks}}


def _tool_config(body: Mapping[str, Any], turns: list[JSON]) -> JSON:
    tools = body.get("tools")
    if not tools:
        return {}
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    choice = body.get("tool_choice")
    if choice == "none" and not _has_tool_blocks(turns):
        return {}  # Converse has no "none": tools it is not offered, it cannot call
    # Converse refuses toolUse/toolResult blocks without a toolConfig, so a conversation that
    # already holds tool calls keeps its tools under "none" (the model chooses, as under "auto").
    config: JSON = {"tools": [{"toolSpec": _tool_spec(tool, index)} for index, tool in enumerate(tools)]}
    if choice is not None and choice != "none":
        config["toolChoice"] = _tool_choice(choice)
    return config


def _has_tool_blocks(turns: list[JSON]) -> bool:
    return any("toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"])


def _tool_spec(tool: Any, index: int) -> JSON:
    function = chat_parts.function_of_tool(tool, index)
    spec: JSON = {"name": function["name"], "inputSchema": {"json": function.get("parameters") or _EMPTY_SCHEMA}}
    if function.get("description"):
        spec["description"] = function["description"]
    return spec


def _tool_choice(choice: Any) -> JSON:
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return dict(_TOOL_CHOICES[choice])
    return {"tool": {"name": chat_parts.chosen_function(choice)}}


def openai_usage(usage: Mapping[str, Any]) -> JSON:
    """OpenAI usage from Converse's ``TokenUsage``, whose ``inputTokens`` leaves out the cache."""
    counts = chat_parts.int_counts(usage)
    read, written = counts.get("cacheReadInputTokens", 0), counts.get("cacheWriteInputTokens", 0)
    return chat_parts.cached_usage(
        counts.get("inputTokens", 0), counts.get("outputTokens", 0), read=read, written=written
    )


def finish_reason(stop_reason: Any) -> str:
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def to_chat_completion(answer: Mapping[str, Any], *, completion_id: str, model: Any, created: int) -> JSON:
    """The OpenAI ``chat.completion`` for a Converse answer (which carries no id: the caller
    passes one made of the request id AWS answered with)."""
    output = answer.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        raise UpstreamProtocolError("bedrock answered without output.message.content")
    texts = [str(block["text"]) for block in content if isinstance(block, Mapping) and "text" in block]
    tool_calls = [tool_call(block["toolUse"]) for block in content if isinstance(block, Mapping) and "toolUse" in block]
    reply = chat_parts.assistant_reply("".join(texts) if texts or not tool_calls else None, tool_calls)
    usage = answer.get("usage")
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason(answer.get("stopReason"))}
        ],
        "usage": openai_usage(usage if isinstance(usage, Mapping) else {}),
    }


def tool_call(block: Mapping[str, Any]) -> JSON:
    return chat_parts.tool_call(block.get("toolUseId"), block.get("name"), block.get("input"))


def exception_name(raw: str | None) -> str | None:
    """``ValidationException`` from any of the spellings AWS uses: the ``x-amzn-ErrorType``
    header (``ValidationException:http://internal.amazon.com/...``), a body's ``__type``
    (``com.amazon.coral.validate#ValidationException``), an event's ``:exception-type``
    (``validationException``)."""
    if not raw:
        return None
    name = raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return name[:1].upper() + name[1:] if name else None


def error_name(headers: Mapping[str, str], body: bytes) -> str | None:
    """The exception an HTTP error answer names, from its header first and its body then."""
    lowered = {key.lower(): value for key, value in headers.items()}
    name = exception_name(lowered.get("x-amzn-errortype"))
    if name:
        return name
    try:
        decoded: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(decoded, dict):
        return None
    return exception_name(str(decoded.get("__type") or decoded.get("code") or "")) or None


def bedrock_error(base: UpstreamStatusError, name: str | None) -> UpstreamStatusError:
    """``base`` (the generic error for the answer, message and Retry-After kept) with the status
    and type that the Bedrock exception ``name`` stands for."""
    status, error_type = _EXCEPTIONS.get(name or "", (base.upstream_status, None))
    code = name
    if name == "ValidationException" and _CONTEXT_OVERFLOW.search(base.detail):
        code = "context_length_exceeded"  # the router falls back to a deployment with a longer context
    headers = base.headers
    if status == 429 and "retry-after" not in headers:
        # AWS sends no Retry-After; its SDKs back off from about a second, and so may the client.
        headers = {**headers, "retry-after": THROTTLE_RETRY_AFTER}
    return UpstreamStatusError(
        base.detail, upstream_status=status, upstream_type=error_type, code=code, headers=headers
    )


def stream_exception(name: str | None, payload: bytes) -> UpstreamStatusError:
    """The error for an exception event inside a 200 event stream (payload ``{"message": ...}``)."""
    try:
        decoded: Any = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        decoded = {}
    message = decoded.get("message") if isinstance(decoded, dict) else None
    base = UpstreamStatusError(
        str(message or f"bedrock failed mid-stream ({name or 'unknown error'})"), upstream_status=502
    )
    return bedrock_error(base, name)
