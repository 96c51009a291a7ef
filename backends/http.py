"""The shared upstream HTTP client, and the mapping of transport faults to Tollgate errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
import httpx
import msgspec

from backends.errors import (
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

_FORWARDED_ERROR_HEADERS = ("retry-after",)


def build_client(*, transport: Literal["aiohttp", "httpx"], max_connections: int = 1000) -> httpx.AsyncClient:
    """One pooled keep-alive client for every upstream.

    ``transport`` picks httpx's own connection pool or aiohttp's under httpx's API; the benchmark
    in ``docs/benchmarks.md`` compares them. ``trust_env`` is off so that proxy variables never
    reroute upstream traffic.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if transport == "httpx":
        return httpx.AsyncClient(limits=limits, trust_env=False, timeout=None)
    from httpx_aiohttp import AiohttpTransport

    pool = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(transport=pool, limits=limits, trust_env=False, timeout=None)


@contextlib.contextmanager
def mapped_transport_errors(upstream: str) -> Iterator[None]:
    """Turn httpx's transport exceptions into the most specific Tollgate error."""
    try:
        yield
    except httpx.TimeoutException as exc:
        cause = exc.__cause__
        if isinstance(exc, httpx.ConnectTimeout) and not _is_timeout(cause):
            # httpx-aiohttp maps a refused or reset connection to ConnectTimeout.
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable: {cause or exc}") from exc
        raise UpstreamTimeout(f"upstream {upstream} timed out") from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise UpstreamUnreachable(f"upstream {upstream} is unreachable: {exc}") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnreachable(f"upstream {upstream} failed: {exc}") from exc


def _is_timeout(exc: BaseException | None) -> bool:
    import asyncio

    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(exc).__name__


def status_error(upstream: str, response: httpx.Response, body: bytes) -> UpstreamStatusError:
    """Build the error for an upstream HTTP error, keeping its message, type and code."""
    message, err_type, code, param = _error_fields(body)
    headers = {h: response.headers[h] for h in _FORWARDED_ERROR_HEADERS if h in response.headers}
    return UpstreamStatusError(
        message or f"upstream {upstream} answered HTTP {response.status_code}",
        upstream_status=response.status_code,
        upstream_type=err_type,
        code=code,
        param=param,
        headers=headers,
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
    client: httpx.AsyncClient,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: httpx.Timeout,
) -> dict[str, Any]:
    """POST a JSON body and return the decoded JSON answer, or raise the mapped error."""
    with mapped_transport_errors(upstream):
        response = await client.post(url, content=msgspec.json.encode(body), headers=headers, timeout=timeout)
    if response.status_code >= 400:
        raise status_error(upstream, response, response.content)
    return decode_json(upstream, response.content)


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: httpx.Timeout,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """POST and yield the response's byte chunks; leaving the block closes the connection."""
    request = client.build_request("POST", url, content=msgspec.json.encode(body), headers=headers, timeout=timeout)
    with mapped_transport_errors(upstream):
        response = await client.send(request, stream=True)
    try:
        if response.status_code >= 400:
            with mapped_transport_errors(upstream):
                content = await response.aread()
            raise status_error(upstream, response, content)
        yield _mapped_bytes(upstream, response)
    finally:
        # Closing must survive the cancellation that a client disconnect delivers.
        with anyio.CancelScope(shield=True):
            await response.aclose()


async def _mapped_bytes(upstream: str, response: httpx.Response) -> AsyncIterator[bytes]:
    with mapped_transport_errors(upstream):
        async for chunk in response.aiter_raw():
            yield chunk
