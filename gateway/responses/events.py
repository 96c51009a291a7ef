"""A chat completion stream, relayed as the Responses event stream.

The pipeline's relay yields chat chunks as SSE frames (metered, the usage chunk last with its cost);
this module reads them back and sends what OpenAI's Responses stream sends, numbered from 0 by
``sequence_number``: ``response.created``, ``response.in_progress``, per output item
``response.output_item.added`` … ``response.output_item.done`` (for text ``content_part.added``,
``output_text.delta``/``.done``, ``content_part.done``; for a reasoning model's thinking, sent by
vLLM as ``reasoning_content``, the same with ``reasoning_text.delta``/``.done``; for a function call
``function_call_arguments.delta``/``.done``), then ``response.completed`` (``response.incomplete``
when the answer was cut). An upstream failure mid-stream becomes an ``error`` event and
``response.failed``. The final response is handed to ``keep`` before ``response.completed`` leaves,
so a client that retrieves it on that event finds it (one that could not be stored says ``store: false``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec

from backends.base import JSON
from gateway.core.streams import close_stream
from gateway.edge import sse
from gateway.responses import answer
from gateway.responses.keeping import Keep

_decode = msgspec.json.Decoder(float_hook=Decimal).decode  # the usage's cost stays exact
log = logging.getLogger("tollgate.errors")
# The items of one growing part: their events' names, whether those carry logprobs, how each is made.
_TEXT_EVENTS = {"message": "response.output_text", "reasoning": "response.reasoning_text"}
_LOGPROBS: dict[str, dict[str, Any]] = {"message": {"logprobs": []}, "reasoning": {}}
_NEW_ITEM = {"message": answer.message_item, "reasoning": answer.reasoning_item}


class ResponseEvents:
    """One Responses stream; iterate it once."""

    def __init__(self, chat_frames: AsyncIterable[bytes], skeleton: JSON, request_id: str, keep: Keep) -> None:
        self._frames = chat_frames
        self._skeleton = skeleton
        self._request_id = request_id
        self._keep = keep
        self._sequence = 0
        self._output: list[JSON] = []
        self._open: JSON | None = None  # the open message or reasoning item
        self._calls: dict[int, JSON] = {}  # chat tool-call index -> its open function_call item
        self._finish_reason: str | None = None
        self._usage: JSON = {}

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return sse.named_event(kind, data)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._event("response.created", response=self._skeleton)
        yield self._event("response.in_progress", response=self._skeleton)
        frames = aiter(self._frames)
        try:
            async for frame in frames:
                chunk = _chunk(frame)
                if chunk is None:
                    continue
                if "error" in chunk:
                    for event in self._failed(chunk["error"]):
                        yield event
                    return
                for event in self._relay(chunk):
                    yield event
            for event in self._close_all():
                yield event
            final = answer.finished(self._skeleton, self._output, self._finish_reason, self._usage)
            final = await self._keep(final)
            kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
            yield self._event(kind, response=final)
        finally:
            with contextlib.suppress(Exception):
                await close_stream(frames)

    def _relay(self, chunk: JSON) -> list[bytes]:
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        events: list[bytes] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            thinking = answer.reasoning_text(delta)
            if thinking:
                events.extend(self._text("reasoning", thinking))
            if delta.get("content"):
                events.extend(self._text("message", str(delta["content"])))
            for call in delta.get("tool_calls") or ():
                events.extend(self._call(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _text(self, kind: str, delta: str) -> list[bytes]:
        """A delta of the open ``message`` or ``reasoning`` item's one part, the item opened first."""
        events = self._close_open() if self._open is not None and self._open["type"] != kind else []
        if self._open is None:
            self._open = _NEW_ITEM[kind](self._request_id, [], "in_progress")
            if any(each["id"] == self._open["id"] for each in self._output):  # text again after a call
                self._open["id"] += f"_{len(self._output)}"
            self._output.append(self._open)
            events.append(self._added(self._open))
            part = answer.text_part("") if kind == "message" else answer.reasoning_part("")
            self._open["content"].append(part)
            events.append(self._part("response.content_part.added", part, self._open))
        self._open["content"][0]["text"] += delta
        at = {**self._where(self._open), "content_index": 0}
        events.append(self._event(f"{_TEXT_EVENTS[kind]}.delta", **at, delta=delta, **_LOGPROBS[kind]))
        return events

    def _call(self, call: JSON) -> list[bytes]:
        events = []
        index = int(call.get("index", 0))
        function = call.get("function") or {}
        item = self._calls.get(index)
        if item is None:
            events.extend(self._close_open())
            call_id, name = str(call.get("id", "")), str(function.get("name", ""))
            item = answer.call_item(self._request_id, index, call_id, name, "", "in_progress")
            self._calls[index] = item
            self._output.append(item)
            events.append(self._added(item))
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            delta = function["arguments"]
            events.append(self._event("response.function_call_arguments.delta", **self._where(item), delta=delta))
        return events

    def _close_all(self) -> list[bytes]:
        events = self._close_open()
        status = "incomplete" if self._finish_reason == "length" else "completed"
        for item in self._calls.values():
            item["status"] = status
            args = item["arguments"]
            events.append(self._event("response.function_call_arguments.done", **self._where(item), arguments=args))
            events.append(self._done(item))
        self._calls.clear()
        return events

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        item["status"] = "incomplete" if self._finish_reason == "length" else "completed"
        part = item["content"][0]
        at = {**self._where(item), "content_index": 0}
        done = f"{_TEXT_EVENTS[item['type']]}.done"
        return [
            self._event(done, **at, text=part["text"], **_LOGPROBS[item["type"]]),
            self._part("response.content_part.done", part, item),
            self._done(item),
        ]

    def _failed(self, error: JSON) -> list[bytes]:
        shown = {"code": error.get("code") or "server_error", "message": str(error.get("message", ""))}
        failed = {**self._skeleton, "status": "failed", "error": shown, "output": self._output}
        return [
            self._event("error", code=shown["code"], message=shown["message"], param=error.get("param")),
            self._event("response.failed", response=failed),
        ]

    def _index(self, item: JSON) -> int:
        """The item's place in the output, by identity (two items may be equal)."""
        return next(index for index, each in enumerate(self._output) if each is item)

    def _where(self, item: JSON) -> JSON:
        return {"item_id": item["id"], "output_index": self._index(item)}

    def _added(self, item: JSON) -> bytes:
        return self._event("response.output_item.added", output_index=self._index(item), item=item)

    def _done(self, item: JSON) -> bytes:
        return self._event("response.output_item.done", output_index=self._index(item), item=item)

    def _part(self, kind: str, part: JSON, item: JSON) -> bytes:
        return self._event(kind, **self._where(item), content_index=0, part=part)


def _chunk(frame: bytes) -> JSON | None:
    """The JSON of one ``data:`` frame; None for ``[DONE]`` (a Responses stream has none)."""
    data = frame.removeprefix(b"data: ").strip()
    if not data or data == b"[DONE]":
        return None
    decoded = _decode(data)
    return decoded if isinstance(decoded, dict) else None
