"""The shared upstream HTTP client, and the mapping of transport faults to Tollgate errors.

Upstream calls go through one pooled keep-alive :class:`backends.http_client.HTTPClient`. httpx
measured 2-4x aiohttp's CPU per request, and aiohttp's client 4-5x this one's
(``docs/bench-server-and-transport.md``, ``docs/bench-hot-path.md``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import msgspec

from backends.base import Form
from backends.http_client import HTTPClient
from backends.http_exchange import BadResponse, HTTPFault, Response, Timeout
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


def build_client(*, max_connections: int = 1000) -> HTTPClient:
    """One pool of keep-alive connections for every upstream; call inside the running loop."""
    return HTTPClient(max_connections=max_connections)


def timeout(connect: float, read: float, total: float | None = None) -> Timeout:
    """``read`` bounds every wait for more of the answer (for a stream, the gap between chunks);
    ``total`` the whole exchange, a stream's last byte included."""
    return Timeout(connect=connect, read=read, total=total)


class mapped_transport_errors:
    """Turn the HTTP client's faults into the most specific Tollgate error. A class, not a
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
        if isinstance(exc, TimeoutError):
            raise UpstreamTimeout(f"upstream {upstream} timed out") from exc
        if isinstance(exc, BadResponse):
            raise UpstreamProtocolError(f"upstream {upstream} sent a broken answer: {exc}") from exc
        if isinstance(exc, HTTPFault):  # could not connect, or the connection broke off
            raise UpstreamUnreachable(f"upstream {upstream} is unreachable: {exc}") from exc


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
    client: HTTPClient,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    timeout: Timeout,
) -> dict[str, Any]:
    """POST a JSON body and return the decoded JSON answer, or raise the mapped error."""
    _, content = await _post(client, upstream, url, headers, msgspec.json.encode(body), timeout)
    return decode_json(upstream, content)


async def post_form(
    client: HTTPClient,
    upstream: str,
    url: str,
    form: Form,
    *,
    headers: Mapping[str, str],
    timeout: Timeout,
) -> tuple[bytes, str]:
    """POST a multipart form; return the answer's bytes and content type, or raise the mapped error."""
    body, content_type = multipart(form)
    answered, content = await _post(client, upstream, url, {**headers, "content-type": content_type}, body, timeout)
    return content, answered.get("content-type", "application/octet-stream")


async def _post(
    client: HTTPClient, upstream: str, url: str, headers: Mapping[str, str], body: bytes, timeout: Timeout
) -> tuple[Mapping[str, str], bytes]:
    """POST ``body``; the answer's headers and whole body, or the mapped error (an HTTP error's too)."""
    with mapped_transport_errors(upstream):
        async with await client.request("POST", url, headers=headers, body=body, timeout=timeout) as response:
            content = await response.read()
    if response.status >= 400:
        raise status_error(upstream, response.status, response.headers, content)
    return response.headers, content


def multipart(form: Form) -> tuple[bytes, str]:
    """``multipart/form-data`` (RFC 7578): the body, and the content type that names its boundary."""
    boundary = secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in form.fields:
        parts.append(_part_head(boundary, name, None, None) + value.encode())
    for upload in form.files:
        parts.append(_part_head(boundary, upload.field, upload.filename, upload.content_type) + upload.data)
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode() if parts else f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _part_head(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{_quoted(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quoted(filename)}"'
    head = f"--{boundary}\r\ncontent-disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"content-type: {content_type}\r\n"
    return (head + "\r\n").encode()


def _quoted(value: str) -> str:
    """A name inside a quoted header parameter, escaped as browsers do (WHATWG's form encoding)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


@contextlib.asynccontextmanager
async def open_stream(
    client: HTTPClient,
    upstream: str,
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    timeout: Timeout,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """POST and yield the response's byte chunks; leaving the block early drops the connection,
    which is how the upstream learns that the request was abandoned."""
    with mapped_transport_errors(upstream):
        response = await client.request("POST", url, headers=headers, body=msgspec.json.encode(body), timeout=timeout)
    refused = functools.partial(status_error, upstream)
    async with answered(upstream, response, refused) as answer:
        yield _mapped_chunks(upstream, answer)


@contextlib.asynccontextmanager
async def answered(
    upstream: str,
    response: Response,
    refused: Callable[[int, Mapping[str, str], bytes], Exception],
) -> AsyncIterator[Response]:
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
        response.release()


async def _mapped_chunks(upstream: str, response: Response) -> AsyncIterator[bytes]:
    with mapped_transport_errors(upstream):
        async for chunk in response.chunks():
            yield chunk


async def probe(client: HTTPClient, url: str, headers: Mapping[str, str]) -> bool:
    """Whether ``url`` answers below 500 within two seconds."""
    try:
        response = await client.request("GET", url, headers=headers, timeout=Timeout(connect=2.0, total=2.0))
    except (HTTPFault, TimeoutError):
        return False
    response.release()
    return response.status < 500
