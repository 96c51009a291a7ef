"""The little of ASGI that the generation endpoints speak directly: read a body, send an answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from backends.errors import PayloadTooLarge

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before it was answered."""


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    too_large = PayloadTooLarge("The request body is larger than this gateway accepts.")
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise too_large
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _headers(
    content_type: bytes, headers: Mapping[str, str], extra: Iterable[tuple[bytes, bytes]] = ()
) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), *extra, *((k.encode(), v.encode()) for k, v in headers.items())]


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Mapping[str, str], content_type: bytes = b"application/json"
) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": _headers(content_type, headers, length)})
    await send({"type": "http.response.body", "body": body})


async def send_stream(
    send: Send,
    receive: Receive,
    chunks: AsyncIterable[bytes],
    headers: Mapping[str, str],
    content_type: bytes = b"text/event-stream",
) -> None:
    """Send a stream (by default, of events); a client disconnect cancels the iteration (and so the upstream)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": _headers(content_type, headers, [(b"cache-control", b"no-cache")]),
        }
    )

    async def pump() -> None:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    await unless_disconnected(receive, pump())


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, watching the client meanwhile: if it disconnects first, ``work`` is
    cancelled (and with it the upstream call) and :class:`ClientGone` raised. Call it once the
    request's body has been read: from then on ``receive()`` returns only ``http.disconnect``."""
    working = asyncio.ensure_future(work)
    watching = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (working, watching):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if working.cancelled():
        raise ClientGone
    return working.result()  # finished first, or as it was cancelled: its result, or what it raised


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
