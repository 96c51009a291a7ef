"""Bedrock's ConverseStream answer, without I/O: AWS event-stream messages in, OpenAI chunks out.

The answer is ``application/vnd.amazon.eventstream``: binary frames (prelude, headers, payload,
CRCs) that botocore's :class:`~botocore.eventstream.EventStreamBuffer` decodes and checks. Each
frame's ``:message-type`` header says whether it is an ``event`` (``:event-type`` names it, its
payload is JSON), an ``exception`` (``:exception-type``) or an ``error`` (``:error-code``).
Events arrive as ``messageStart``, then per content block ``contentBlockStart`` (tool calls only),
``contentBlockDelta``..., ``contentBlockStop``, then ``messageStop`` (the stop reason) and last
``metadata`` (the usage).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from botocore.eventstream import EventStreamMessage

from backends import chat_parts
from backends.base import JSON
from backends.bedrock_wire import exception_name, finish_reason, openai_usage, stream_exception
from gateway.core.errors import UpstreamProtocolError


def event_of(message: EventStreamMessage) -> tuple[str, JSON]:
    """The name and JSON payload of an ``event`` frame; raise the mapped error for an exception."""
    headers: Mapping[str, Any] = message.to_response_dict()["headers"]
    kind = headers.get(":message-type")
    if kind == "exception":
        raise stream_exception(exception_name(headers.get(":exception-type")), message.payload)
    if kind == "error":
        text = msgspec.json.encode({"message": headers.get(":error-message")})
        raise stream_exception(exception_name(headers.get(":error-code")), text)
    if kind != "event" or not isinstance(headers.get(":event-type"), str):
        raise UpstreamProtocolError(f"bedrock sent an event-stream frame of type {kind!r}")
    try:
        data = msgspec.json.decode(message.payload) if message.payload else {}
    except msgspec.DecodeError as exc:
        raise UpstreamProtocolError(f"bedrock sent an event that is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UpstreamProtocolError("bedrock sent an event whose payload is not an object")
    return headers[":event-type"], data


class StreamTranslator:
    """Turns ConverseStream events into OpenAI ``chat.completion.chunk`` dicts, in order.

    :meth:`feed` returns the chunks for one event (often none). The finish chunk is emitted at
    ``messageStop`` and the usage chunk (``choices: []``) at ``metadata``; :attr:`done` tells
    whether that last one arrived.
    """

    def __init__(self, *, completion_id: str, model: Any, created: int) -> None:
        self.done = False
        self._id = completion_id
        self._model = model
        self._created = created
        self._started = False
        self._tool_indexes: dict[Any, int] = {}

    def feed(self, event: str, data: Mapping[str, Any]) -> list[JSON]:
        if event == "messageStart":
            self._started = True
            return [self._chunk({"role": "assistant", "content": ""})]
        if not self._started:
            raise UpstreamProtocolError(f"bedrock sent {event!r} before messageStart")
        if event == "contentBlockStart":
            return self._on_block_start(data)
        if event == "contentBlockDelta":
            return self._on_block_delta(data)
        if event == "messageStop":
            return [self._chunk({}, finish_reason(data.get("stopReason")))]
        if event == "metadata":
            self.done = True
            usage = data.get("usage")
            usage_chunk = {
                **self._chunk({}),
                "choices": [],
                "usage": openai_usage(usage if isinstance(usage, Mapping) else {}),
            }
            return [usage_chunk]
        return []  # contentBlockStop, and event types AWS may add later

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return chat_parts.chunk(self._id, self._created, self._model, delta, finish)

    def _on_block_start(self, data: Mapping[str, Any]) -> list[JSON]:
        start = data.get("start")
        tool = start.get("toolUse") if isinstance(start, Mapping) else None
        if not isinstance(tool, Mapping):
            return []  # only tool calls announce their block
        index = self._tool_indexes.setdefault(data.get("contentBlockIndex"), len(self._tool_indexes))
        function = {"name": tool.get("name"), "arguments": ""}
        call = {"index": index, "id": tool.get("toolUseId"), "type": "function", "function": function}
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, data: Mapping[str, Any]) -> list[JSON]:
        delta = data.get("delta")
        if not isinstance(delta, Mapping):
            return []
        if delta.get("text"):
            return [self._chunk({"content": str(delta["text"])})]
        tool = delta.get("toolUse")
        if not isinstance(tool, Mapping) or not tool.get("input"):
            return []  # reasoning has no OpenAI chat equivalent
        index = self._tool_indexes.get(data.get("contentBlockIndex"))
        if index is None:
            raise UpstreamProtocolError("bedrock sent tool input for a block that is not a toolUse")
        call = {"index": index, "function": {"arguments": str(tool["input"])}}
        return [self._chunk({"tool_calls": [call]})]
