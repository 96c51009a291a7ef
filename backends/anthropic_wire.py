"""Translation between OpenAI chat completions and Anthropic's Messages API, without I/O.

Usage is normalised to OpenAI's meaning (``prompt_tokens`` counts every input token, cached or not),
and the raw cache counts are kept as well, because cache writes are priced apart from cache reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends import chat_parts
from backends.base import JSON
from backends.chat_parts import bad_message
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError

DEFAULT_MAX_TOKENS = 4096

_FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "tool_use": "tool_calls"}
_FINISH_REASONS |= {"max_tokens": "length", "model_context_window_exceeded": "length", "refusal": "content_filter"}
_EMPTY_SCHEMA = {"type": "object", "properties": {}}
_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
# Anthropic-only parameters a caller may send through the OpenAI body on purpose.
_NATIVE_PARAMS = ("top_k", "thinking")


def to_messages_request(body: Mapping[str, Any], *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSON:
    """Translate an OpenAI chat request; raise :class:`InvalidRequest` for what Anthropic can't do.
    Parameters that change nothing the caller sees (``seed``, ``stream_options``...) are dropped."""
    chat_parts.reject_beyond_one_text_choice(body, "anthropic")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system, turns = _convert_messages(messages)
    maximum = chat_parts.max_tokens(body)
    request: JSON = {"model": body.get("model"), "messages": turns, "max_tokens": maximum or default_max_tokens}
    if system:
        request["system"] = system
    for name in ("temperature", "top_p", *_NATIVE_PARAMS):
        if body.get(name) is not None:
            request[name] = body[name]
    stop = chat_parts.stop_sequences(body.get("stop"))
    if stop:
        request["stop_sequences"] = stop
    if body.get("user"):
        request["metadata"] = {"user_id": str(body["user"])}
    request.update(_tool_fields(body))
    if body.get("stream"):
        request["stream"] = True
    return request


def _convert_messages(messages: list[Any]) -> tuple[str | list[JSON] | None, list[JSON]]:
    """System/developer messages go to the top-level system prompt; the rest become alternating
    user/assistant turns, consecutive same-role messages (tool results included) merged."""
    system, turns = chat_parts.split_messages(messages, _blocks, _turn)
    return _system_prompt(system), [_compact(turn) for turn in turns]


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


def _system_prompt(blocks: list[JSON]) -> str | list[JSON] | None:
    if not blocks:
        return None
    if any("cache_control" in block for block in blocks):
        return blocks  # only the block form carries cache breakpoints
    return "\n\n".join(block["text"] for block in blocks)


def _compact(turn: JSON) -> JSON:
    blocks = turn["content"]
    if len(blocks) == 1 and blocks[0].keys() == {"type", "text"}:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _blocks(content: Any, position: int, *, images: bool = False) -> list[JSON]:
    """Anthropic content blocks for an OpenAI message content; images only where allowed."""
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise bad_message(position, "content must be a string or a list")
    blocks = [_part_block(part, position, images=images) for part in content]
    return [block for block in blocks if block is not None]


def _part_block(part: Any, position: int, *, images: bool) -> JSON | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind in ("text", "refusal"):
        if not part.get(kind):
            return None  # Anthropic rejects empty text blocks
        block: JSON = {"type": "text", "text": str(part[kind])}
    elif kind == "image_url" and images:
        block = {"type": "image", "source": _image_source(part.get("image_url"), position)}
    else:
        raise bad_message(position, f"content part type {kind!r} is not supported here")
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _image_source(image: Any, position: int) -> JSON:
    url = chat_parts.image_url(image, position)
    if url.startswith("data:"):
        media_type, data = chat_parts.base64_data_url(url, position)
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise bad_message(position, "image_url must be an http(s) or a data URL")


def _tool_use(call: Any, position: int) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not function.get("name"):
        raise bad_message(position, "each tool call needs a function name")
    parsed = chat_parts.tool_call_arguments(function, position)
    return {"type": "tool_use", "id": call.get("id"), "name": function["name"], "input": parsed}


def _tool_result(message: Mapping[str, Any], position: int) -> JSON:
    if not message.get("tool_call_id"):
        raise bad_message(position, "a tool message needs tool_call_id")
    result: JSON = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    content = message.get("content")
    content = content if isinstance(content, str) else _blocks(content, position)
    if content:
        result["content"] = content
    return result


def _tool_fields(body: Mapping[str, Any]) -> JSON:
    fields: JSON = {}
    tools = body.get("tools")
    if tools:
        fields["tools"] = [_tool(tool, index) for index, tool in enumerate(tools)]
    choice = _tool_choice(body["tool_choice"]) if body.get("tool_choice") is not None else None
    if body.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def _tool(tool: Any, index: int) -> JSON:
    function = chat_parts.function_of_tool(tool, index)
    converted: JSON = {"name": function["name"], "input_schema": function.get("parameters") or _EMPTY_SCHEMA}
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: Any) -> JSON:
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return dict(_TOOL_CHOICES[choice])
    return {"type": "tool", "name": chat_parts.chosen_function(choice)}


def openai_usage(usage: Mapping[str, Any]) -> JSON:
    """OpenAI usage from Anthropic's, whose ``input_tokens`` excludes cache reads and writes."""
    counts = chat_parts.int_counts(usage)
    read, written = counts.get("cache_read_input_tokens", 0), counts.get("cache_creation_input_tokens", 0)
    return chat_parts.cached_usage(
        counts.get("input_tokens", 0), counts.get("output_tokens", 0), read=read, written=written
    )


def finish_reason(stop_reason: Any) -> str:
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def to_chat_completion(message: Mapping[str, Any], *, created: int) -> JSON:
    """The OpenAI ``chat.completion`` for an Anthropic Messages answer."""
    content = message.get("content")
    if not isinstance(content, list):
        raise UpstreamProtocolError("anthropic answered a message without a content list")
    texts = [str(block.get("text", "")) for block in content if block.get("type") == "text"]
    tool_calls = [_tool_call(block) for block in content if block.get("type") == "tool_use"]
    reply = chat_parts.assistant_reply("".join(texts) if texts or not tool_calls else None, tool_calls)
    choice = {
        "index": 0,
        "message": reply,
        "logprobs": None,
        "finish_reason": finish_reason(message.get("stop_reason")),
    }
    usage = message.get("usage")
    return {
        "id": f"chatcmpl-{message.get('id')}",
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [choice],
        "usage": openai_usage(usage if isinstance(usage, Mapping) else {}),
    }


def _tool_call(block: Mapping[str, Any]) -> JSON:
    return chat_parts.tool_call(block.get("id"), block.get("name"), block.get("input"))


def error_status(error_type: str | None, http_status: int = 502) -> int:
    """The status clients see for an Anthropic error: 529 ``overloaded_error`` is not a status
    OpenAI clients know, so it becomes 503; errors inside a 200 stream become 502."""
    if error_type == "overloaded_error" or http_status == 529:
        return 503
    return http_status


def stream_error(data: Mapping[str, Any]) -> UpstreamStatusError:
    error = data.get("error")
    error = error if isinstance(error, Mapping) else {}
    error_type = str(error.get("type") or "api_error")
    message = str(error.get("message") or "anthropic failed mid-stream")
    return UpstreamStatusError(message, upstream_status=error_status(error_type), upstream_type=error_type)


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` dicts, in order.

    :meth:`feed` returns the chunks to emit for one event (often none) and raises
    :class:`UpstreamStatusError` for an ``error`` event. The finish chunk and then a usage chunk
    (``choices: []``) are emitted at ``message_stop``; :attr:`done` tells whether it arrived.
    """

    def __init__(self, *, created: int) -> None:
        self.created = created
        self.done = False
        self._id: str | None = None
        self._model: Any = None
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._tool_indexes: dict[Any, int] = {}

    def feed(self, event: str, data: Mapping[str, Any]) -> list[JSON]:
        kind = event if event != "message" else str(data.get("type"))
        if kind == "error":
            raise stream_error(data)
        if kind == "message_start":
            return self._on_message_start(data)
        if self._id is None and kind != "ping":
            raise UpstreamProtocolError(f"anthropic sent {kind!r} before message_start")
        if kind == "content_block_start":
            return self._on_block_start(data)
        if kind == "content_block_delta":
            return self._on_block_delta(data)
        if kind == "message_delta":
            self._on_message_delta(data)
        elif kind == "message_stop":
            return self._on_message_stop()
        return []  # ping, content_block_stop, and event types Anthropic may add later

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return chat_parts.chunk(self._id, self.created, self._model, delta, finish)

    def _on_message_start(self, data: Mapping[str, Any]) -> list[JSON]:
        message = data.get("message")
        if not isinstance(message, Mapping):
            raise UpstreamProtocolError("anthropic sent message_start without a message")
        self._id = f"chatcmpl-{message.get('id')}"
        self._model = message.get("model")
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_block_start(self, data: Mapping[str, Any]) -> list[JSON]:
        block = data.get("content_block")
        if not isinstance(block, Mapping):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": str(block["text"])})]
        if block.get("type") != "tool_use":
            return []  # thinking blocks have no OpenAI chat equivalent
        index = self._tool_indexes.setdefault(data.get("index"), len(self._tool_indexes))
        function = {"name": block.get("name"), "arguments": ""}
        call = {"index": index, "id": block.get("id"), "type": "function", "function": function}
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, data: Mapping[str, Any]) -> list[JSON]:
        delta = data.get("delta")
        if not isinstance(delta, Mapping):
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": str(delta["text"])})]
        if delta.get("type") != "input_json_delta" or not delta.get("partial_json"):
            return []
        index = self._tool_indexes.get(data.get("index"))
        if index is None:
            raise UpstreamProtocolError("anthropic sent tool input for a block that is not a tool_use")
        call = {"index": index, "function": {"arguments": str(delta["partial_json"])}}
        return [self._chunk({"tool_calls": [call]})]

    def _on_message_delta(self, data: Mapping[str, Any]) -> None:
        delta = data.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        self._merge_usage(data.get("usage"))

    def _merge_usage(self, usage: Any) -> None:
        # message_delta counts are cumulative, so the latest value of each count wins.
        if isinstance(usage, Mapping):
            self._usage.update({key: value for key, value in usage.items() if value is not None})

    def _on_message_stop(self) -> list[JSON]:
        self.done = True
        final = self._chunk({}, finish_reason(self._stop_reason))
        usage_chunk = {**self._chunk({}), "choices": [], "usage": openai_usage(self._usage)}
        return [final, usage_chunk]
