"""One pipelined Redis connection for the hot path: commands written as they come, replies matched
to their callers in order.

Admission runs two Lua scripts per limited request (reserve, settle). redis-py's asyncio client
spends about 90 µs of CPU on each command in its pool, retry and health-check layers (py-spy of
the gateway under load: docs/bench-admission.md), more than Redis takes to run the script; this
path costs a write and a parse (hiredis), and every concurrent request shares one connection, so
commands travel in batches under load: everything sent during one turn of the event loop goes out in
one write at its end, and a command nobody waits for (``hold=True``: a settlement), while others are
in flight, waits up to :data:`HOLD_SECONDS` to go out with the next ones, which saves a write and a
wake-up per request under load (c=64 throughput of a limited key 0.73-0.76x an unlimited one's without
the hold, 0.77-0.88x with it, tests/perf/admission_overhead). The response cache reads and writes its
answers on the same connection, so a limited key's reservation and its cache lookup share a round
trip. The rest (key-change pub/sub, the semantic index's stream) keeps redis-py.

It fails fast, as admission needs: a refused connection raises at once, and a Redis that stops
answering fails every waiting command after ``reply_timeout`` (the connection is dropped, and the
next command reconnects).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import ssl
import time
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

HOLD_SECONDS = 0.001


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, called by its SHA1 and sent whole only when Redis does not know it yet."""

    source: str
    sha: str

    @classmethod
    def of(cls, source: str) -> Script:
        return cls(source, hashlib.sha1(source.encode()).hexdigest())


class _Connection(asyncio.Protocol):
    def __init__(self, reply_timeout: float) -> None:
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._reply_timeout = reply_timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self._held: list[bytes] = []  # commands sent during this turn of the loop, in order
        self._flush: asyncio.Handle | None = None
        self._flush_later = False  # whether ``_flush`` is the hold's timer rather than this turn's end
        self._transport: asyncio.Transport | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but have its methods.
        self._transport, self.open = cast(asyncio.Transport, transport), True

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            waiter, _ = self._waiting.popleft()
            if waiter.done():  # its caller was cancelled
                continue
            if isinstance(reply, ResponseError):
                waiter.set_exception(reply)
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        for handle in (self._watchdog, self._flush):
            if handle is not None:
                handle.cancel()
        self._held.clear()
        while self._waiting:
            waiter, _ = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))

    def send(self, *args: Any, hold: bool = False) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        # Held only while other commands are in flight, whose traffic carries it soon. Alone (one request
        # at a time) a held settlement would go out in front of the next reservation, which would then
        # wait for Redis to run the settlement first: 35 µs of its 175 µs at c=1.
        hold = hold and bool(self._waiting)
        self._waiting.append((waiter, time.monotonic()))
        self._held.append(hiredis.pack_command(args))
        if self._flush is None or (self._flush_later and not hold):  # a command someone waits for: this turn
            if self._flush is not None:
                self._flush.cancel()
            self._flush_later = hold
            self._flush = loop.call_later(HOLD_SECONDS, self._write) if hold else loop.call_soon(self._write)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._reply_timeout, self._check)
        return waiter

    def _write(self) -> None:
        self._flush = None
        if self._held and self._transport is not None and self.open:
            self._transport.write(b"".join(self._held))
        self._held.clear()

    def _check(self) -> None:
        """Drop the connection when its oldest command has waited past the timeout."""
        self._watchdog = None
        if not self._waiting:
            return
        waited = time.monotonic() - self._waiting[0][1]
        if waited >= self._reply_timeout:
            for waiter, _ in self._waiting:
                if not waiter.done():
                    waiter.set_exception(RedisTimeoutError(f"Redis did not answer within {self._reply_timeout:g} s"))
            self.close()
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._reply_timeout - waited, self._check)

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.abort()


class RedisPipe:
    def __init__(self, url: str, *, connect_timeout: float = 0.5, reply_timeout: float = 2.0) -> None:
        # The URL means what it means to redis-py, which the rest of the gateway reaches Redis with:
        # redis://, rediss:// (TLS) and unix:// (a socket path), credentials and database included.
        options = parse_url(url)
        self._path: str | None = options.get("path")
        self._host, self._port = options.get("host", "localhost"), int(options.get("port", 6379))
        self._tls = options.get("connection_class") is SSLConnection
        self._username: str | None = options.get("username")
        self._password: str | None = options.get("password")
        self._db = int(options.get("db", 0))
        self._connect_timeout, self._reply_timeout = connect_timeout, reply_timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None

    async def call(self, *args: Any, hold: bool = False) -> Any:
        connection = self._connection
        if connection is None or not connection.open:
            connection = await self._connect()
        return await connection.send(*args, hold=hold)

    async def run(self, script: Script, keys: list[str], args: list[Any], *, hold: bool = False) -> Any:
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args, hold=hold)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", script.source, len(keys), *keys, *args, hold=hold)

    async def _connect(self) -> _Connection:
        """One connection attempt at a time; callers arriving meanwhile wait for it."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(lambda _: setattr(self, "_connecting", None))
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        protocol = functools.partial(_Connection, self._reply_timeout)
        if self._path is not None:
            opening = loop.create_unix_connection(protocol, self._path)
        else:
            context = ssl.create_default_context() if self._tls else None
            opening = loop.create_connection(protocol, self._host, self._port, ssl=context)
        try:
            _, connection = await asyncio.wait_for(opening, self._connect_timeout)
        except (OSError, TimeoutError) as exc:
            where = self._path or f"{self._host}:{self._port}"
            raise RedisConnectionError(f"cannot connect to Redis at {where}: {exc}") from exc
        try:
            if self._password is not None:
                credentials = (self._username, self._password) if self._username else (self._password,)
                await connection.send("AUTH", *credentials)
            if self._db:
                await connection.send("SELECT", self._db)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
