"""The one place that writes Server-Sent Events framing for clients."""

from __future__ import annotations

from typing import Any

import msgspec

DONE = b"data: [DONE]\n\n"

_encode = msgspec.json.Encoder(decimal_format="number").encode


def event(data: Any) -> bytes:
    return b"data: " + _encode(data) + b"\n\n"


def named_event(name: str, data: Any) -> bytes:
    """An event with its ``event:`` line, as OpenAI's Responses stream sends each of its events."""
    return b"event: " + name.encode() + b"\ndata: " + _encode(data) + b"\n\n"
