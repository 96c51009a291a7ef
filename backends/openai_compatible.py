"""Any upstream that speaks the OpenAI HTTP API: hosted OpenAI, vLLM, SGLang, TGI, and the like.

Other OpenAI-compatible engines subclass :class:`OpenAICompatibleBackend` and override only what
differs (which base URL serves a request, how readiness is probed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from backends.base import JSON, BackendContext, Form, Operation, Payload
from backends.http import decode_json, open_stream, post_form, post_json, probe, timeout
from backends.http_exchange import Timeout
from backends.responses_wire import read_events
from backends.shape import check_chunk
from backends.sse import iter_events
from gateway.core.errors import UpstreamProtocolError, UpstreamStatusError

# Long enough for a long answer that is not streamed; a backend's ``timeouts`` (or a model's
# ``first_token_timeout``) raises it for slower ones, and ``null`` turns it off.
DEFAULT_FIRST_TOKEN_SECONDS = 120.0


class Timeouts(msgspec.Struct, forbid_unknown_fields=True):
    """Seconds. ``read`` bounds the wait for each piece of the answer, so for a stream it is the
    longest tolerated gap between chunks; ``first_token`` bounds the wait for the first token the
    client could see: a stream's first chunk, and a whole answer that is not streamed (its first
    token comes with its last). The gateway's router enforces it, so that it can still retry; a
    hung upstream holds a try that long, not ``read``'s ten minutes. ``total`` bounds the whole call."""

    connect: float = 5.0
    read: float = 600.0
    first_token: float | None = DEFAULT_FIRST_TOKEN_SECONDS
    total: float | None = None

    def to_client(self) -> Timeout:
        return timeout(self.connect, self.read, self.total)


class OpenAICompatibleConfig(msgspec.Struct, tag="openai_compatible", forbid_unknown_fields=True):
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None
    # Whether the server answers /v1/responses itself (hosted OpenAI does); otherwise the gateway
    # translates Responses requests into chat completions for it.
    responses: bool = False


class OpenAICompatibleBackend:
    def __init__(
        self,
        name: str,
        ctx: BackendContext,
        *,
        api_key: str | None,
        headers: dict[str, str],
        timeouts: Timeouts,
        base_url: str = "",
        responses: bool = True,
    ) -> None:
        self.name = name
        self._responses = responses
        self._http = ctx.http
        self._base_url = base_url.rstrip("/")
        self._timeout = timeouts.to_client()
        self._headers = {"content-type": "application/json", **headers}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    @classmethod
    def from_config(cls, name: str, config: OpenAICompatibleConfig, ctx: BackendContext) -> OpenAICompatibleBackend:
        return cls(
            name,
            ctx,
            base_url=config.base_url,
            api_key=config.api_key,
            headers=config.headers,
            timeouts=config.timeouts,
            responses=config.responses,
        )

    def supports(self, op: Operation) -> bool:
        return op is not Operation.RESPONSES or self._responses

    def _url(self, op: Operation, body: JSON) -> str:
        """Where one JSON request goes; Azure names the deployment and the API version in the URL."""
        return f"{self._base_url}/{op.value}"

    async def request(self, op: Operation, body: JSON) -> JSON:
        url = self._url(op, body)
        return await post_json(self._http, self.name, url, body, headers=self._headers, timeout=self._timeout)

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        finished = False
        url = self._url(op, body)
        async with open_stream(
            self._http, self.name, url, body, headers=self._headers, timeout=self._timeout
        ) as chunks:
            if op is Operation.RESPONSES:  # its own events, not chunks (backends/responses_wire.py)
                async for item in read_events(self.name, chunks):
                    yield item
                return
            async for event in iter_events(chunks):
                if event.payload.strip() == b"[DONE]":
                    return
                chunk = decode_json(self.name, event.payload)
                if "error" in chunk:
                    raise _stream_error(self.name, chunk)
                check_chunk(op, chunk, self.name)
                finished = finished or _finishes(chunk)
                yield chunk
        if not finished:
            raise UpstreamProtocolError(f"upstream {self.name} ended the stream before it was complete")

    async def upload(self, op: Operation, form: Form) -> Payload:
        url = f"{self._base_url}/{op.value}"
        body, content_type = await post_form(
            self._http, self.name, url, form, headers=self._headers, timeout=self._timeout
        )
        return Payload(body, content_type)

    async def audio(self, op: Operation, body: JSON) -> AsyncIterator[bytes]:
        url = f"{self._base_url}/{op.value}"
        async with open_stream(
            self._http, self.name, url, body, headers=self._headers, timeout=self._timeout
        ) as chunks:
            async for chunk in chunks:
                yield chunk

    async def ready(self) -> bool:
        return await self._probe(f"{self._base_url}/models")

    async def _probe(self, url: str) -> bool:
        return await probe(self._http, url, self._headers)

    async def aclose(self) -> None:
        """The shared HTTP client belongs to the gateway's lifespan, not to the backend."""


def _stream_error(upstream: str, chunk: JSON) -> UpstreamStatusError:
    error = chunk["error"]
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code")
    status = code if isinstance(code, int) else 502
    return UpstreamStatusError(
        str(error.get("message") or f"upstream {upstream} failed mid-stream"),
        upstream_status=status,
        upstream_type=error.get("type"),
    )


def _finishes(chunk: JSON) -> bool:
    """Whether a chunk (its choices checked already) ends a choice. A loop: ``any()`` over a generator
    costs several times more, on every chunk of every stream."""
    for choice in chunk.get("choices") or ():  # noqa: SIM110 (see above)
        if choice.get("finish_reason"):
            return True
    return False
