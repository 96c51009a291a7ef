"""The shared upstream HTTP client, and the mapping of transport faults to Tollgate errors.

Upstream calls go through one pooled keep-alive ``aiohttp.ClientSession``. httpx (with its own
transport and with aiohttp's underneath) measured 2–4× more CPU per request, most of it in its
request/response layer: see ``docs/bench-server-and-transport.md`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import msgspec

from gateway.core.errors import (
    UPSTREAM_AUTH_STATUSES,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.core.redact import redacted

_FORWARDED_ERROR_HEADERS = ("retry-after",)
log = logging.getLogger("tollgate.upstream")


def build_client(*, max_connections: int = 1000) -> aiohttp.ClientSession:
    """One pool of keep-alive connections for every upstream; call inside the running loop.

    ``trust_env`` is off so that proxy variables never reroute upstream traffic.
    """
    connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, trust_env=False, timeout=aiohttp.ClientTimeout(total=None))


def timeout(connect: float, read: float, total: float | None = None) -> aiohttp.ClientTimeout:
    """``read`` bounds every wait for more of the answer (for a stream, the gap between chunks);
    ``total`` the whole exchange, a stream's last byte included."""
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_read=read)


class mapped_transport_errors:
    """Turn aiohttp's transport exceptions into the most specific Tollgate error. A class, not a
    ``contextlib.contextmanager``: it wraps every upstream call, and a generator costs a few
    microseconds more to enter and leave."""

    __slots__ = ("_upstream",)

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None) -> None:
        upstream = self._upstream
        if exc is None:
            return
        if isinstance(exc, TimeoutError):  # aiohttp's timeouts derive from these
            raise UpstreamTimeout(f"upstream {upstream} timed out") from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable: {exc.os_error or exc}") from exc
        if isinstance(exc, aiohttp.ClientError):
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable: {exc or type(exc).__name__}") from exc


def status_error(upstream: str, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamStatusError:
    """Build the error for an upstream HTTP error, keeping its type and code and (redacted, by the
    error itself) its message; what a provider says when it refuses the gateway's key goes to the
    operator's log (redacted too: a provider may echo part of the key)."""
    message, err_type, code, param = _error_fields(body)
    if status in UPSTREAM_AUTH_STATUSES:
        log.warning(
            "upstream %s refused the gateway's credentials (HTTP %s): %s", upstream, status, redacted(message or "")
        )
    forwarded = {h: headers[h] for h in _FORWARDED_ERROR_HEADERS if h in headers}
    return UpstreamStatusError(
        message or f"upstream {upstream} answered HTTP {status}",
        upstream_status=status,
        upstream_type=err_type,
        code=code,
        param=param,
        headers=forwarded,
    )


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        decoded: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode(errors="replace").strip()
        return (text[:500] or None), None, None, None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if isinstance(error, dict):
        return _str(error.get("message")), _str(error.get("type")), _str(error.get("code")), _str(error.get("param"))
    if isinstance(error, str):  # some OpenAI-compatible servers answer {"error": "..."}
        return error, None, None, None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        return decoded["message"], None, None, None
    return None, None, None, None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def decode_json(upstream: str, body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamProtocolError(f"upstream {upstream} sent invalid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise UpstreamProtocolError(f"upstream {upstream} sent a JSON {type(decoded).__name__}, not an object")
    return decoded


async def post_json(
    client: aiohttp.ClientSession,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: aiohttp.ClientTimeout,
) -> dict[str, Any]:
    """POST a JSON body and return the decoded JSON answer, or raise the mapped error."""
    with mapped_transport_errors(upstream):
        async with client.post(url, data=msgspec.json.encode(body), headers=headers, timeout=timeout) as response:
            content = await response.read()
    if response.status >= 400:
        raise status_error(upstream, response.status, response.headers, content)
    return decode_json(upstream, content)


async def post_form(
    client: aiohttp.ClientSession,
    upstream: str,
    url: str,
    form: aiohttp.FormData,
    *,
    headers: dict[str, str],
    timeout: aiohttp.ClientTimeout,
) -> tuple[bytes, str]:
    """POST a multipart form; return the answer's bytes and content type, or raise the mapped error."""
    with mapped_transport_errors(upstream):
        async with client.post(url, data=form, headers=headers, timeout=timeout) as response:
            content = await response.read()
    if response.status >= 400:
        raise status_error(upstream, response.status, response.headers, content)
    return content, response.headers.get("content-type", "application/octet-stream")


@contextlib.asynccontextmanager
async def open_stream(
    client: aiohttp.ClientSession,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: aiohttp.ClientTimeout,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """POST and yield the response's byte chunks; leaving the block early drops the connection,
    which is how the upstream learns that the request was abandoned."""
    with mapped_transport_errors(upstream):
        response = await client.post(url, data=msgspec.json.encode(body), headers=headers, timeout=timeout)
    refused = functools.partial(status_error, upstream)
    async with answered(upstream, response, refused) as answer:
        yield _mapped_chunks(upstream, answer)


@contextlib.asynccontextmanager
async def answered(
    upstream: str,
    response: aiohttp.ClientResponse,
    refused: Callable[[int, Mapping[str, str], bytes], Exception],
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Lend a successful ``response`` until the block ends; for an HTTP error, read its body and
    raise ``refused(status, headers, body)``. Either way the connection goes back to the pool when
    the body was read to the end, and is dropped when it was not (how the upstream learns that the
    request was abandoned)."""
    try:
        if response.status >= 400:
            with mapped_transport_errors(upstream):
                content = await response.read()
            raise refused(response.status, response.headers, content)
        yield response
    finally:
        # Synchronous on purpose: it must happen even inside the cancellation of a client disconnect.
        if response.content.at_eof():
            response.release()
        else:
            response.close()


async def _mapped_chunks(upstream: str, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    with mapped_transport_errors(upstream):
        async for chunk in response.content.iter_any():
            yield chunk


async def probe(client: aiohttp.ClientSession, url: str, headers: Mapping[str, str]) -> bool:
    """Whether ``url`` answers below 500 within two seconds."""
    try:
        async with client.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=2.0)) as response:
            return response.status < 500
    except (aiohttp.ClientError, TimeoutError):
        return False
