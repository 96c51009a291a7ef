"""Watches an upstream stream on its way to the client and assembles the answer it amounts to.

The relay reads the upstream chunks through :class:`StreamRecorder`, which passes each one on
untouched and keeps the text, role and finish reason of every choice. When the relay reports the
stream finished (``ok``: the upstream ended it), :meth:`StreamRecorder.answer` is the complete
answer in the shape of a non-streamed response, ready to be stored; a stream cut by an error or a
disconnect is never reported ``ok``, so it is never stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from backends.base import JSON, Operation
from gateway.core.streams import close_stream


@dataclass(slots=True)
class _Choice:
    role: str = "assistant"
    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    tool_calls: bool = False


class StreamRecorder:
    """An async iterator over ``chunks`` (whose first chunk was ``first``) that records the answer."""

    def __init__(self, op: Operation, chunks: AsyncIterator[JSON], first: JSON) -> None:
        self._op = op
        self._chunks = chunks
        self._head: JSON = {}
        self._choices: dict[int, _Choice] = {}
        self._add(first)

    def __aiter__(self) -> StreamRecorder:
        return self

    async def __anext__(self) -> JSON:
        chunk = await anext(self._chunks)
        self._add(chunk)
        return chunk

    async def aclose(self) -> None:
        await close_stream(self._chunks)

    def _add(self, chunk: JSON) -> None:
        if not self._head:
            self._head = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint") if chunk.get(k)}
        for raw in chunk.get("choices") or ():
            choice = self._choices.setdefault(int(raw.get("index") or 0), _Choice())
            if raw.get("finish_reason"):
                choice.finish_reason = raw["finish_reason"]
            if self._op is not Operation.CHAT:
                choice.text.append(raw.get("text") or "")
                continue
            delta: dict[str, Any] = raw.get("delta") or {}
            choice.role = delta.get("role") or choice.role
            choice.text.append(delta.get("content") or "")
            choice.tool_calls = choice.tool_calls or bool(delta.get("tool_calls") or delta.get("function_call"))

    def answer(self, usage: JSON | None) -> JSON | None:
        """The stream so far as one response body, with the usage the relay metered; None when it
        called tools (such answers are never stored)."""
        if any(choice.tool_calls for choice in self._choices.values()):
            return None
        chat = self._op is Operation.CHAT
        body: JSON = {**self._head, "object": "chat.completion" if chat else "text_completion"}
        body["choices"] = [self._choice(i, c, chat) for i, c in sorted(self._choices.items())]
        if usage:
            body["usage"] = {k: v for k, v in usage.items() if k != "cost"}
        return body

    @staticmethod
    def _choice(index: int, choice: _Choice, chat: bool) -> JSON:
        text = "".join(choice.text)
        out: JSON = {"index": index, "logprobs": None, "finish_reason": choice.finish_reason}
        if not chat:
            return {**out, "text": text}
        return {**out, "message": {"role": choice.role, "content": text}}
