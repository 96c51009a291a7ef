"""The one place that writes Server-Sent Events framing for clients."""

from __future__ import annotations

from typing import Any

import msgspec

DONE = b"data: [DONE]\n\n"

_encode = msgspec.json.Encoder(decimal_format="number").encode


def event(data: Any) -> bytes:
    return b"data: " + _encode(data) + b"\n\n"
