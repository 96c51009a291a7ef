"""AWS's event-stream framing (``application/vnd.amazon.eventstream``), written as Bedrock writes it.

A frame is a prelude (total length, headers length, both big-endian uint32, and the prelude's
CRC32), the headers (name length uint8, name, value type 7 = string, value length uint16, value),
the payload, and the CRC32 of all that precedes it. botocore ships only the decoder, so the fake
carries this encoder; tests/unit/test_bedrock_stream.py reads its frames back with botocore's.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgspec

_STRING = 7
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value


def event(name: str, data: dict[str, Any], *, padding: int = 0) -> bytes:
    """One ``event`` frame. Bedrock pads each event's JSON with a ``p`` member of varying length,
    so that the size of a frame does not tell the size of the text it carries."""
    body = {**data, "p": _PADDING[: padding % len(_PADDING)]} if padding else data
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, msgspec.json.encode(body))


def exception(name: str, message: str) -> bytes:
    """An ``exception`` frame; ``name`` is the stream member (``throttlingException``)."""
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, msgspec.json.encode({"message": message}))


def corrupted(data: bytes) -> bytes:
    """``data`` with its last CRC byte flipped, as a damaged connection would deliver it."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])
