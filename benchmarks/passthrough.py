"""The reference the gateway's throughput is held against: a pass-through proxy on the gateway's own stack.

A plain ASGI app, served by the same server with the same options as a gateway variant (one worker,
uvloop, httptools), that forwards each request's body bytes as they came to the upstream through one
pooled ``aiohttp.ClientSession`` (the gateway's transport until it got its own lean client,
``backends/http_client.py``; issue 19 names this aiohttp pass-through as the reference) and relays
the answer's status, content type and body, a stream chunk by chunk as aiohttp reads it. It parses
nothing, authenticates nothing, meters nothing: what any gateway written on aiohttp pays at least
per request. ``python -m benchmarks`` runs it beside the gateway variants as the ``passthrough`` path.

The upstream's base URL comes from ``BENCH_PASSTHROUGH_UPSTREAM`` (for example ``http://127.0.0.1:8123``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import aiohttp

UPSTREAM_VARIABLE = "BENCH_PASSTHROUGH_UPSTREAM"
_HEALTHY = b'{"status":"ok"}'

Message = dict[str, Any]


class PassThrough:
    """The ASGI app; its client session opens with the server's lifespan."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._client: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, ttl_dns_cache=300)
                self._client = aiohttp.ClientSession(
                    connector=connector, trust_env=False, timeout=aiohttp.ClientTimeout(total=None)
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["path"] == "/healthz":
            await _answer(send, 200, b"application/json", _HEALTHY)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        assert self._client is not None
        url = self._upstream + scope["path"]
        headers = {"content-type": "application/json"}
        async with self._client.request(scope["method"], url, data=body, headers=headers) as response:
            content_type = response.headers.get("content-type", "application/json").encode()
            if content_type.startswith(b"text/event-stream"):
                await send({"type": "http.response.start", "status": response.status, "headers": _head(content_type)})
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await _answer(send, response.status, content_type, await response.read())


def _head(content_type: bytes, extra: Mapping[bytes, bytes] | None = None) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), *(extra or {}).items()]


async def _answer(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    headers = _head(content_type, {b"content-length": str(len(body)).encode()})
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def app_from_environment() -> PassThrough:
    """Factory for the ASGI server (``--factory``), as the gateway's ``app_from_environment`` is."""
    return PassThrough(os.environ[UPSTREAM_VARIABLE])
