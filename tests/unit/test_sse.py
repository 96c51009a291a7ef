"""Reading upstream SSE, however the bytes are split, and writing it back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from backends.sse import ServerEvent, iter_events, parse_event
from gateway.edge import sse


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _collect(*parts: bytes) -> list[ServerEvent]:
    return [event async for event in iter_events(_chunks(*parts))]


async def test_events_split_across_chunks_and_line_endings() -> None:
    stream = (
        b'data: {"a": 1}\n\nevent: ping\r\ndata: {}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n'
    )
    whole = await _collect(stream)
    byte_by_byte = await _collect(*(stream[i : i + 1] for i in range(len(stream))))
    expected = [
        ServerEvent("message", b'{"a": 1}'),
        ServerEvent("ping", b"{}"),
        ServerEvent("message", b"line1\nline2"),
        ServerEvent("message", b"[DONE]"),
    ]
    assert whole == expected and byte_by_byte == expected


async def test_trailing_event_without_blank_line_is_kept() -> None:
    assert await _collect(b"data: x\n\ndata: tail") == [ServerEvent("message", b"x"), ServerEvent("message", b"tail")]


def test_parse_event_ignores_comments_and_keeps_colons_in_data() -> None:
    assert parse_event(b": keep-alive") is None
    assert parse_event(b'data:{"url": "http://x"}') == ServerEvent("message", b'{"url": "http://x"}')


def test_data_is_kept_as_bytes_and_read_as_text_on_demand() -> None:
    event = parse_event('data: {"text": "café"}'.encode())
    assert event == ServerEvent("message", '{"text": "café"}'.encode())
    assert event.data == '{"text": "café"}'
    assert parse_event(b"event: ping\ndata: a\ndata: b") == ServerEvent("ping", b"a\nb")


def test_writer_frames_compact_json_and_done() -> None:
    framed = sse.event({"choices": [], "usage": {"total_tokens": 3}})
    assert framed.startswith(b"data: ") and framed.endswith(b"\n\n") and b"\n" not in framed[:-2]
    assert msgspec.json.decode(framed[6:]) == {"choices": [], "usage": {"total_tokens": 3}}
    assert sse.DONE == b"data: [DONE]\n\n"
