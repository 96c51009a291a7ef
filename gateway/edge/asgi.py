"""The little of ASGI that the generation endpoints speak directly: read a body, send an answer."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterable, Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar, cast

from gateway.core import departure
from gateway.core.errors import PayloadTooLarge

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before it was answered."""


_BY_NAME = "tollgate.headers"  # the scope's own index of its headers, made by the first look-up


def header(scope: Scope, name: bytes) -> str | None:
    """The value of the request header ``name`` (lower case, as ASGI gives names); of a repeated one,
    the first. A request's headers are looked up half a dozen times: indexed once, not scanned each time."""
    by_name = scope.get(_BY_NAME)
    if by_name is None:
        by_name = scope[_BY_NAME] = dict(reversed(list(scope["headers"])))
    value = by_name.get(name)
    return None if value is None else bytes(value).decode("latin-1")


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise _too_large()
        if not chunks and not message.get("more_body", False):
            return bytes(body)  # the whole body in one message, as a small request's is: nothing to join
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large() -> PayloadTooLarge:
    # Built only when raised: an error costs about a microsecond to build, every request's read paid it.
    return PayloadTooLarge("The request body is larger than this gateway accepts.")


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
    await unless_disconnected(receive, write_stream(send, chunks, headers, content_type))


async def write_stream(
    send: Send, chunks: AsyncIterable[bytes], headers: Mapping[str, str], content_type: bytes = b"text/event-stream"
) -> None:
    """Send a stream's head, then its chunks. Chunks that are ready one after another (the events of one
    upstream read) leave in one write; what is held back goes out before the iteration waits for more,
    so no chunk waits on the next. The last write ends the body. Await it under
    :func:`unless_disconnected`, as :func:`send_stream` does."""
    start = {"type": "http.response.start", "status": 200}
    await send({**start, "headers": _headers(content_type, headers, [(b"cache-control", b"no-cache")])})
    held: list[bytes] = []

    async def flush() -> None:
        body = b"".join(held)
        held.clear()
        await send({"type": "http.response.body", "body": body, "more_body": True})

    iterator = aiter(chunks)
    while True:
        try:
            held.append(await _flushing_before_waiting(anext(iterator), flush, held))
        except StopAsyncIteration:
            break
        except Exception:
            if held:  # what was ready still reaches the client, as it did chunk by chunk
                await flush()
            raise
    await send({"type": "http.response.body", "body": b"".join(held), "more_body": False})


@types.coroutine
def _flushing_before_waiting(
    step: Awaitable[T], flush: Callable[[], Awaitable[None]], held: list[bytes]
) -> Generator[Any, None, T]:
    """``await step``, except that if ``step`` is about to wait while ``held`` is not empty,
    ``flush()`` runs first. Asyncio cannot tell whether an awaitable would wait without awaiting
    it, so this drives ``step`` by hand as ``await`` does: its first ``send(None)`` runs it up to its
    first wait (a future it yields) or its end; the rest is :func:`_rest_of`."""
    driven = step.__await__()
    try:
        waiting_on = driven.send(None)
    except StopIteration as done:
        return cast("T", done.value)
    if held:
        try:
            yield from flush().__await__()
        except BaseException as failure:  # (a cancellation: the client left) reaches ``step`` too, where it waits
            try:
                waiting_on = driven.throw(failure)  # raises what ``step`` raises: as a rule, ``failure``
            except StopIteration:
                raise failure from None
            yield from _rest_of(driven, waiting_on)
            raise failure from None
    return (yield from _rest_of(driven, waiting_on))


def _rest_of(driven: Generator[Any, None, T], waiting_on: Any) -> Generator[Any, None, T]:
    """The rest of an ``await`` already begun, from where it waits on ``waiting_on``: what the task
    sends in is sent on, what it throws in (a cancellation) is thrown on, as ``yield from`` does."""
    while True:
        try:
            yield waiting_on
        except BaseException as exc:
            try:
                waiting_on = driven.throw(exc)
            except StopIteration as done:
                return cast("T", done.value)
        else:
            try:
                waiting_on = driven.send(None)
            except StopIteration as done:
                return cast("T", done.value)


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, watching the client meanwhile: if it disconnects first, ``work`` is
    cancelled (and with it the upstream call) and :class:`ClientGone` raised. Call it once the
    request's body has been read: from then on ``receive()`` returns only ``http.disconnect``.

    ``work`` runs in the calling task and the watch is no task at all (this is on every request's
    path): :class:`_Watch` drives ``receive()`` by hand. So the watch cancels the caller and tells
    its own cancellation from any other (a server shutting down) by whether the client left."""
    current = asyncio.current_task()
    assert current is not None
    watch = _Watch(receive, current)
    told = departure.watching(watch)  # so that a cancelled request's record says who cut it
    try:
        return await work
    except asyncio.CancelledError:
        if watch.left and current.uncancel() == 0:  # the client's cancellation, and no other
            raise ClientGone from None
        raise
    finally:
        watch.stop()
        departure.stop_watching(told)


class _Watch:
    """Waits for ``receive()`` to say ``http.disconnect``, then cancels ``task``. It runs
    ``receive()`` as a task would, step by step, from the callbacks of the futures it waits on: a
    watcher task cost about 6 µs a request to create, start and cancel (issue 19's profile), this a
    fraction of it. An awaitable that waits on something other than a future is handed to a task."""

    __slots__ = ("_driven", "_receive", "_stopped", "_task", "_waiting_on", "_watcher", "left")

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self._receive, self._task, self.left, self._stopped = receive, task, False, False
        self._driven: Generator[Any, None, Message] | None = None
        self._waiting_on: asyncio.Future[Any] | None = None
        self._watcher: asyncio.Future[None] | None = None
        self._step(None)

    def _step(self, _: object) -> None:
        """Run ``receive()`` on to its next wait; begin another one while what it says is not a disconnect."""
        if self._stopped:  # a wake-up already scheduled when the watch stopped
            return
        self._waiting_on = None
        while True:
            if self._driven is None:
                self._driven = self._receive().__await__()
            try:
                waiting_on = self._driven.send(None)
            except StopIteration as done:
                self._driven = None
                if done.value["type"] == "http.disconnect":
                    self.left = True
                    self._task.cancel()
                    return
                continue
            except Exception as exc:  # the watch ends, as a watcher task would, and says why
                self._driven = None
                context = {"message": "watching the client for a disconnect failed", "exception": exc}
                asyncio.get_running_loop().call_exception_handler(context)
                return
            if isinstance(waiting_on, asyncio.Future):
                waiting_on._asyncio_future_blocking = False  # as a task does with what its step yields
                self._waiting_on = waiting_on
                waiting_on.add_done_callback(self._step)
                return
            driven, self._driven = self._driven, None
            self._watcher = asyncio.ensure_future(self._rest(driven, waiting_on))
            return

    async def _rest(self, driven: Generator[Any, None, Message], waiting_on: Any) -> None:
        message = await _Rest(driven, waiting_on)
        while message["type"] != "http.disconnect":
            message = await self._receive()
        self.left = True
        self._task.cancel()

    def stop(self) -> None:
        """Stop watching: what ``receive()`` waits on is let go of, and its wait ended."""
        self._stopped = True
        if self._waiting_on is not None:
            self._waiting_on.remove_done_callback(self._step)
            self._waiting_on = None
        if self._driven is not None:
            self._driven.close()
            self._driven = None
        if self._watcher is not None:
            self._watcher.cancel()


class _Rest:
    """An ``await`` already begun, as an awaitable: the rest of it (:func:`_rest_of`)."""

    __slots__ = ("_driven", "_waiting_on")

    def __init__(self, driven: Generator[Any, None, Message], waiting_on: Any) -> None:
        self._driven, self._waiting_on = driven, waiting_on

    def __await__(self) -> Generator[Any, None, Message]:
        return _rest_of(self._driven, self._waiting_on)
