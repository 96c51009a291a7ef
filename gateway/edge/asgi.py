"""The little of ASGI that the generation endpoints speak directly: read a body, send an answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from gateway.core.errors import PayloadTooLarge

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
    request's body has been read: from then on ``receive()`` returns only ``http.disconnect``.

    ``work`` runs in the calling task (one watcher task beside it, no second task for the work:
    this is on every request's path), so the watcher cancels the caller and tells its own
    cancellation from any other (a server shutting down) by whether the client left."""
    current = asyncio.current_task()
    assert current is not None
    left = False

    async def watch() -> None:
        nonlocal left
        await _disconnected(receive)
        left = True
        current.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if left and current.uncancel() == 0:  # the client's cancellation, and no other
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
