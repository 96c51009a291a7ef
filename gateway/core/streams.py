"""Closing a stream of chunks that may or may not be closeable (an async generator, or a plain async
iterator): the one way every relay and wrapper gives an upstream's connection back."""

from __future__ import annotations

from typing import Any


async def close_stream(chunks: Any) -> None:
    """``await chunks.aclose()`` when ``chunks`` has one; nothing otherwise."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
