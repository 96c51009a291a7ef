"""The gateway's HTTP/1.1 client for its upstreams: pooled keep-alive connections on the event loop's
own transports, with httptools (llhttp, the parser uvicorn uses) reading the answers
(``backends/http_exchange.py``).

Why not aiohttp's client, which this replaced: at 64 concurrent requests its request and response
layers (URL and header objects, cookie handling, timers, the stream reader) cost 80-130 µs of CPU
per call on the bench machine, about a third of the gateway's whole budget, where this client costs
about 23 µs (``docs/bench-hot-path.md``). An upstream here is always an API server answering JSON,
SSE, event-stream or audio bytes to a POST or a GET, so the client needs only that: no cookies, no
redirects, no proxies, no compression (it never asks for any).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from backends.http_exchange import ConnectFailed, Connection, Response, Timeout, sooner


class HTTPClient:
    """Keep-alive connections per scheme, host and port, at most ``max_connections`` exchanges at
    once (a further one waits for a free slot); a connection idle longer than ``keep_idle`` seconds
    is closed rather than reused. The default stays under the 5 s after which uvicorn (vLLM's server)
    and Node close an idle connection: a request written just as the server closes one is lost.
    Create and close it inside the running loop."""

    def __init__(
        self, *, max_connections: int = 1000, keep_idle: float = 4.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._limit = max_connections
        self._keep_idle = keep_idle
        self._ssl = ssl_context or ssl.create_default_context()
        self._idle: dict[tuple[str, str, int], collections.deque[Connection]] = {}
        self._active = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: Timeout,
    ) -> Response:
        """Send the request; return once the answer's status line and headers are in. Read or
        stream its body, then :meth:`Response.release` it (``async with`` does): a connection whose
        answer was read to the end goes back to the pool, any other is closed, which is how the
        upstream learns that the request was abandoned."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        target = _target(url)
        head = _request_head(method, target, headers, body)
        loop = asyncio.get_running_loop()
        deadline = None if timeout.total is None else loop.time() + timeout.total
        await self._take_slot()
        try:
            connection = self._pooled(target.key, loop.time()) or await self._connect(target, timeout, deadline)
        except BaseException:
            self.free_slot()
            raise
        response = Response(self, connection, loop, timeout.read, deadline)
        connection.response = response
        connection.transport.write(head + body if body else head)
        try:
            await response.wait_head()
        except BaseException:
            response.release()
            raise
        return response

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.transport.close()
        self._idle.clear()

    async def _take_slot(self) -> None:
        if self._active >= self._limit or self._waiting:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.free_slot()  # it was handed a slot it will not use
                elif waiter in self._waiting:  # (a release in the same turn may have dropped it already)
                    self._waiting.remove(waiter)
                raise
            return  # the slot was handed over by free_slot: _active already counts it
        self._active += 1

    def free_slot(self) -> None:
        if not self._wake_next():
            self._active -= 1

    def _wake_next(self) -> bool:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return True
        return False

    def _pooled(self, key: tuple[str, str, int], now: float) -> Connection | None:
        connections = self._idle.get(key)
        while connections:
            connection = connections.pop()
            fresh = now - connection.idle_since <= self._keep_idle
            if fresh and not connection.closed and not connection.transport.is_closing():
                return connection
            connection.transport.close()
        return None

    async def _connect(self, target: _Target, timeout: Timeout, deadline: float | None) -> Connection:
        scheme, host, port = target.key
        context = self._ssl if scheme == "https" else None
        loop = asyncio.get_running_loop()
        bound = sooner(timeout.connect, deadline, loop)
        try:
            async with asyncio.timeout(bound):
                _, connection = await loop.create_connection(
                    Connection, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        connection.key = target.key
        return connection

    def put_back(self, connection: Connection) -> None:
        if self._closed:
            connection.transport.close()
            return
        now = connection.idle_since = asyncio.get_running_loop().time()
        idle = self._idle.get(connection.key)
        if idle is None:
            idle = self._idle[connection.key] = collections.deque()
        idle.append(connection)
        # The newest are reused first, so the oldest would wait for a quiet moment to be let go:
        # each return lets go of the oldest if it is past use (closed by the server, or idle too long).
        oldest = idle[0]
        if oldest is not connection and (oldest.closed or now - oldest.idle_since > self._keep_idle):
            idle.popleft().transport.close()


@dataclass(frozen=True, slots=True)
class _Target:
    key: tuple[str, str, int]  # scheme, host, port: the pool a connection belongs to
    host: str  # the Host header
    path: str  # path and query, sent as they are (already encoded, as signed)


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target((scheme, parts.hostname, port), parts.netloc.rpartition("@")[2], path)


def _request_head(method: str, target: _Target, headers: Mapping[str, str] | None, body: bytes | None) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\nhost: {target.host}\r\n"]
    agent = False
    for name, value in (headers or {}).items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise ValueError(f"header {name!r} holds a line break or a colon")
        lines.append(f"{name}: {value}\r\n")
        agent = agent or name.lower() == "user-agent"
    if not agent:
        lines.append(_USER_AGENT)
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(body or b'')}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


_USER_AGENT = "user-agent: tollgate\r\n"
