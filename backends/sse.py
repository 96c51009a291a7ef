"""Reading Server-Sent Events from an upstream byte stream (the gateway writes them elsewhere)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE_END = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    data: str


def parse_event(raw: bytes) -> ServerEvent | None:
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
    return ServerEvent(event, b"\n".join(data).decode())


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
