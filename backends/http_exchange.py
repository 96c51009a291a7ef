"""One exchange on an upstream connection: the answer as it arrives (:class:`Response`), the protocol
that feeds it (:class:`Connection`, httptools reading the bytes), the bounds on its waits
(:class:`Timeout`) and its faults, which ``backends.http.mapped_transport_errors`` names as Tollgate
errors (a wait that runs out raises :class:`TimeoutError`)::

    HTTPFault
     ├── ConnectFailed   the connection could not be made (refused, DNS, TLS)
     ├── Disconnected    the server closed or reset it before the answer ended
     ├── BadResponse     its bytes were not an HTTP/1.1 answer
     └── StatusRefused   raise_for_status() on a status of 400 or more
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

import httptools

_READ_BUFFER_HIGH = 256 * 1024  # a stream's unread bytes before the socket stops being read


class HTTPFault(Exception):
    """The exchange failed below HTTP: no answer, or not a whole one."""


class ConnectFailed(HTTPFault):
    pass


class Disconnected(HTTPFault):
    pass


class BadResponse(HTTPFault):
    pass


class StatusRefused(HTTPFault):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds, None for no bound. ``connect`` bounds making a new connection (TLS included);
    ``read`` every wait for more of the answer (its head, then each piece of its body: for a stream,
    the gap between chunks); ``total`` the whole exchange, the body's last byte included."""

    connect: float | None = 5.0
    read: float | None = None
    total: float | None = None


class Pool(Protocol):
    """Where a released connection goes: back to the idle ones, and its slot freed."""

    def put_back(self, connection: Connection) -> None: ...

    def free_slot(self) -> None: ...


class Response:
    """An answer whose head is in: ``status``, ``headers`` (names in lower case, a repeated header's
    values joined by ", "), and the body through :meth:`read`, :meth:`text` or :meth:`chunks`."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_deadline",
        "_done",
        "_error",
        "_framed",
        "_keep_alive",
        "_loop",
        "_paused",
        "_pool",
        "_read",
        "_released",
        "_waiter",
        "_whole",
        "headers",
        "status",
    )

    def __init__(
        self,
        pool: Pool,
        connection: Connection,
        loop: asyncio.AbstractEventLoop,
        read: float | None,
        deadline: float | None,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._loop = loop
        self._read = read
        self._deadline = deadline
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False
        self._paused = False
        self._whole = False
        self._framed = True
        self._keep_alive = False
        self._released = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: dict[str, str] = {}

    @property
    def complete(self) -> bool:
        """Whether the body has been received to its end."""
        return self._done

    async def read(self) -> bytes:
        """The whole body."""
        self._whole = True  # gathered whole: the socket is not paused for it
        if self._paused:
            self._paused = False
            self._connection.transport.resume_reading()
        while not self._done:
            await self._wait()
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    async def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return (await self.read()).decode(charset, errors="replace")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: each time, all that has arrived (as aiohttp's ``iter_any``), so the
        events of one read are handed on together, not one chunk of the transfer encoding at a time."""
        pieces = self._chunks
        while True:
            if pieces:
                chunk = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
                pieces.clear()
                self._buffered = 0
                if self._paused:
                    self._paused = False
                    self._connection.transport.resume_reading()
                yield chunk
            elif self._done:
                return
            else:
                await self._wait()

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise StatusRefused(self.status)

    def release(self) -> None:
        """Give the connection back: to the pool when the answer was read to its end and the server
        keeps it open, otherwise closed. Synchronous, so that it can run inside a cancellation."""
        if self._released:
            return
        self._released = True
        connection = self._connection
        connection.response = None
        if self._done and self._keep_alive and not connection.closed:
            if self._paused:
                connection.transport.resume_reading()
            self._pool.put_back(connection)
        else:
            connection.transport.close()
        self._pool.free_slot()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None
    ) -> None:
        self.release()

    async def wait_head(self) -> None:
        while not self.status:
            await self._wait()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        bound = sooner(self._read, self._deadline, loop)
        timer = None if bound is None else loop.call_later(bound, _time_out, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # What the connection reports, from its protocol callbacks.

    def head_in(self, status: int, headers: dict[str, str], keep_alive: bool) -> None:
        self.status, self.headers, self._keep_alive = status, headers, keep_alive
        self._framed = status in (204, 304) or "content-length" in headers or "transfer-encoding" in headers
        self._wake()

    def data_in(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _READ_BUFFER_HIGH and not self._paused and not self._whole:
            self._paused = True
            self._connection.transport.pause_reading()
        self._wake()

    def ended(self) -> None:
        self._done = True
        self._wake()

    def broken(self, error: BaseException) -> None:
        if self._done:
            return
        if self.status and not self._framed and isinstance(error, Disconnected):
            self._done, self._keep_alive = True, False  # a body that ends with the connection
        else:
            self._error = error
        self._wake()


class Connection(asyncio.Protocol):
    """One keep-alive connection: feeds what arrives to httptools and tells the current response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.key: tuple[str, str, int] = ("", "", 0)
        self.response: Response | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        self._interim = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.complete:  # a server that talks out of turn is not reused
            self.transport.close()  # (release() pools no connection that is closing)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"the upstream's answer is not HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None:
            reason = "reset" if exc is not None else "closed"
            response.broken(Disconnected(f"the upstream {reason} the connection before its answer ended"))

    def _fail(self, error: HTTPFault) -> None:
        if self.response is not None:
            self.response.broken(error)
        self.transport.close()

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        self._interim = status < 200  # 100 Continue, 103 Early Hints: the answer itself follows
        if self.response is not None and not self._interim:
            self.response.head_in(status, self._headers, parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response.data_in(body)

    def on_message_complete(self) -> None:
        if self.response is not None and not self._interim:
            self.response.ended()


def sooner(seconds: float | None, deadline: float | None, loop: asyncio.AbstractEventLoop) -> float | None:
    """The shorter of a wait's own bound and what is left of the exchange's deadline."""
    if deadline is None:
        return seconds
    left = max(deadline - loop.time(), 0.0)
    return left if seconds is None else min(seconds, left)


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
