"""Reading Server-Sent Events from an upstream byte stream (the gateway writes them elsewhere).

An event's data stays bytes, as it arrived: the JSON decoders take bytes, so decoding it to text only
to encode it again would cost a copy each way for every chunk of every stream.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE_END = re.compile(rb"\r\n|\n|\r")
_DATA = b"data: "


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    payload: bytes  # the event's data lines, joined by newlines, undecoded

    @property
    def data(self) -> str:
        return self.payload.decode()


def parse_event(raw: bytes) -> ServerEvent | None:
    if raw.startswith(_DATA) and b"\n" not in raw and b"\r" not in raw:
        return ServerEvent("message", raw[len(_DATA) :])  # one data line: nearly every event of every upstream
    event = "message"
    data: list[bytes] = []
    for line in _LINE_END.split(raw):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode()
    if not data:
        return None
    return ServerEvent(event, b"\n".join(data))


async def iter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerEvent]:
    """Yield each complete event as soon as its terminating blank line has arrived."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _EVENT_END.finditer(buffer):
            event = parse_event(buffer[start : match.start()])
            start = match.end()
            if event is not None:
                yield event
        buffer = buffer[start:]
    if buffer.strip():
        event = parse_event(buffer)
        if event is not None:
            yield event
