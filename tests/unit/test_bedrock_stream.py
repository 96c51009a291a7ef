"""ConverseStream frames to OpenAI chunks (backends/bedrock_stream.py), and the fake's event-stream
encoder read back by botocore's decoder, so that the fake's frames are AWS's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from backends.bedrock_stream import StreamTranslator, event_of
from gateway.core.errors import UpstreamProtocolError, UpstreamStatusError
from tests.fakes import bedrock_eventstream as frames

JSON = dict[str, Any]
USAGE = {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}


def decoded(data: bytes, *, piece: int = 0) -> list[tuple[str, JSON]]:
    """The events botocore's buffer decodes from ``data``, fed whole or in ``piece``-byte slices."""
    buffer = EventStreamBuffer()
    events: list[tuple[str, JSON]] = []
    for start in range(0, len(data), piece or len(data)):
        buffer.add_data(data[start : start + (piece or len(data))])
        events.extend(event_of(message) for message in buffer)
    return events


def translate(events: list[bytes]) -> tuple[list[JSON], StreamTranslator]:
    translator = StreamTranslator(completion_id="chatcmpl-r", model="anthropic.x", created=1)
    chunks: list[JSON] = []
    for name, data in decoded(b"".join(events)):
        chunks.extend(translator.feed(name, data))
    return chunks, translator


def test_frames_written_by_the_fake_decode_with_botocore_in_any_slicing() -> None:
    data = frames.event("messageStart", {"role": "assistant"}, padding=5) + frames.event(
        "contentBlockDelta", {"delta": {"text": "héllo"}, "contentBlockIndex": 0}
    )
    expected = [
        ("messageStart", {"role": "assistant", "p": "abcde"}),
        ("contentBlockDelta", {"delta": {"text": "héllo"}, "contentBlockIndex": 0}),
    ]
    assert decoded(data) == expected
    assert decoded(data, piece=7) == expected  # frames split across network reads


def test_a_damaged_frame_fails_its_crc() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(frames.corrupted(frames.event("messageStart", {"role": "assistant"})))
    with pytest.raises(ChecksumMismatch):
        next(buffer)


def test_a_text_answer_streams_role_text_finish_then_usage() -> None:
    chunks, translator = translate(
        [
            frames.event("messageStart", {"role": "assistant"}, padding=3),
            frames.event("contentBlockDelta", {"delta": {"text": "echo: "}, "contentBlockIndex": 0}),
            frames.event("contentBlockDelta", {"delta": {"text": "hi"}, "contentBlockIndex": 0}),
            frames.event("contentBlockStop", {"contentBlockIndex": 0}),
            frames.event("messageStop", {"stopReason": "max_tokens"}),
            frames.event("metadata", {"usage": USAGE, "metrics": {"latencyMs": 9}}),
        ]
    )
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "echo: hi"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 8
    assert all(c["id"] == "chatcmpl-r" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert translator.done


def test_a_tool_call_streams_its_name_then_argument_fragments() -> None:
    start = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}
    chunks, _ = translate(
        [
            frames.event("messageStart", {"role": "assistant"}),
            frames.event("contentBlockDelta", {"delta": {"text": "Calling."}, "contentBlockIndex": 0}),
            frames.event("contentBlockStart", {"start": start, "contentBlockIndex": 1}),
            frames.event("contentBlockDelta", {"delta": {"toolUse": {"input": '{"city": '}}, "contentBlockIndex": 1}),
            frames.event("contentBlockDelta", {"delta": {"toolUse": {"input": '"Paris"}'}}, "contentBlockIndex": 1}),
            frames.event("messageStop", {"stopReason": "tool_use"}),
            frames.event("metadata", {"usage": USAGE}),
        ]
    )
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {"city": "Paris"}
    assert all(call["index"] == 0 for call in calls)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_an_exception_frame_raises_the_mapped_error() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(frames.exception("throttlingException", "Too many tokens"))
    with pytest.raises(UpstreamStatusError) as caught:
        event_of(next(buffer))
    assert (caught.value.http_status, caught.value.message) == (429, "Too many tokens")


def test_events_before_message_start_are_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        translate([frames.event("contentBlockDelta", {"delta": {"text": "x"}, "contentBlockIndex": 0})])


def test_tool_input_for_an_unannounced_block_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        translate(
            [
                frames.event("messageStart", {"role": "assistant"}),
                frames.event("contentBlockDelta", {"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 3}),
            ]
        )


def test_a_frame_that_is_not_json_is_a_protocol_error() -> None:
    buffer = EventStreamBuffer()
    headers = {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"}
    buffer.add_data(frames.frame(headers, b"{not json"))
    with pytest.raises(UpstreamProtocolError):
        event_of(next(buffer))
