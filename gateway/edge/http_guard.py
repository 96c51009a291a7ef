"""uvicorn's httptools protocol with the limits a public server needs against oversized and slow clients.

httptools (llhttp) accepts request heads of any size, and uvicorn arms no timer until a first response
has been sent, so a client could hold a connection and memory forever by sending headers slowly or
endlessly. This protocol answers 431 when a request's line and headers exceed ``max_header_bytes``, and
408 (then closes) when a request has not fully arrived ``read_timeout`` seconds after its connection
opened or its first byte came, whichever is later: head and body alike, for every route.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    read_timeout: float
    keep_alive_timeout: int


class GuardedConfig(uvicorn.Config):
    """uvicorn's config, carrying the limits to each worker (it is pickled into spawned workers)."""

    def __init__(self, app: str, *, limits: ConnectionLimits, **options: Any) -> None:
        super().__init__(app, timeout_keep_alive=limits.keep_alive_timeout, **options)
        self.limits = limits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if not isinstance(config, GuardedConfig):
            raise TypeError("GuardedHttpToolsProtocol needs a GuardedConfig")
        self._limits = config.limits
        self._head_bytes = 0
        self._reading: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._reading is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count(len(name) + len(value) + 4)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_header_bytes and not self.transport.is_closing():
            message = f"The request line and headers exceed {self._limits.max_header_bytes} bytes (max_header_bytes)."
            self._refuse(431, message, "request_headers_too_large")

    def _arm(self) -> None:
        self._reading = self.loop.call_later(self._limits.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _too_slow(self) -> None:
        self._reading = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        seconds = self._limits.read_timeout
        message = f"The request did not arrive within {seconds:g} seconds (request_read_timeout_seconds)."
        self._refuse(408, message, "request_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer in OpenAI's error envelope and close: the rest of the request is never read."""
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        body = json.dumps({"error": error}).encode()
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))
        )
        self.transport.write(head + body)
        self.transport.close()
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app, if it is waiting for the body, sees the client gone
            self.cycle.message_event.set()
