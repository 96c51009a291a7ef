"""Anthropic's Messages API behind the OpenAI chat completions contract.

The translation both ways lives in :mod:`backends.anthropic_wire`; this module does the I/O.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import msgspec

from backends.anthropic_wire import (
    DEFAULT_MAX_TOKENS,
    StreamTranslator,
    error_status,
    to_chat_completion,
    to_messages_request,
)
from backends.base import JSON, BackendContext, Operation
from backends.http import decode_json, open_stream, post_json, probe
from backends.openai_compatible import Timeouts
from backends.sse import iter_events
from gateway.core.errors import UnsupportedOperation, UpstreamProtocolError, UpstreamStatusError


class AnthropicConfig(msgspec.Struct, tag="anthropic", forbid_unknown_fields=True):
    api_key: str
    base_url: str = "https://api.anthropic.com/v1"
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    # Extra request headers, e.g. ``anthropic-beta`` to opt into a beta feature.
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None


class AnthropicBackend:
    def __init__(
        self,
        name: str,
        ctx: BackendContext,
        *,
        api_key: str,
        base_url: str = "https://api.anthropic.com/v1",
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        headers: dict[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.name = name
        self._http = ctx.http
        self._base_url = base_url.rstrip("/")
        self._default_max_tokens = default_max_tokens
        self._timeout = (timeouts or Timeouts()).to_client()
        self._headers = {
            "content-type": "application/json",
            **(headers or {}),
            "x-api-key": api_key,
            "anthropic-version": anthropic_version,
        }

    @classmethod
    def from_config(cls, name: str, config: AnthropicConfig, ctx: BackendContext) -> AnthropicBackend:
        return cls(
            name,
            ctx,
            api_key=config.api_key,
            base_url=config.base_url,
            anthropic_version=config.anthropic_version,
            default_max_tokens=config.default_max_tokens,
            headers=config.headers,
            timeouts=config.timeouts,
        )

    def supports(self, op: Operation) -> bool:
        return op is Operation.CHAT

    def _payload(self, op: Operation, body: JSON, *, stream: bool) -> JSON:
        if not self.supports(op):
            raise UnsupportedOperation(f"backend {self.name} (anthropic) serves chat completions only")
        payload = to_messages_request(body, default_max_tokens=self._default_max_tokens)
        payload.pop("stream", None)
        if stream:
            payload["stream"] = True
        return payload

    async def request(self, op: Operation, body: JSON) -> JSON:
        payload = self._payload(op, body, stream=False)
        url = f"{self._base_url}/messages"
        with _overload_as_unavailable():
            message = await post_json(self._http, self.name, url, payload, headers=self._headers, timeout=self._timeout)
        return to_chat_completion(message, created=int(time.time()))

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        payload = self._payload(op, body, stream=True)
        translator = StreamTranslator(created=int(time.time()))
        url = f"{self._base_url}/messages"
        with _overload_as_unavailable():
            # Leaving this block (the end, an error, or the consumer closing this iterator)
            # closes the upstream response and so its connection.
            async with open_stream(
                self._http, self.name, url, payload, headers=self._headers, timeout=self._timeout
            ) as chunks:
                async for event in iter_events(chunks):
                    data = decode_json(self.name, event.data.encode())
                    for chunk in translator.feed(event.event, data):
                        yield chunk
                    if translator.done:
                        return
        raise UpstreamProtocolError(f"upstream {self.name} ended the stream before message_stop")

    async def ready(self) -> bool:
        return await probe(self._http, f"{self._base_url}/models", self._headers)

    async def aclose(self) -> None:
        """The shared HTTP client belongs to the gateway's lifespan, not to the backend."""


@contextlib.contextmanager
def _overload_as_unavailable() -> Iterator[None]:
    try:
        yield
    except UpstreamStatusError as exc:
        status = error_status(exc.upstream_type, exc.upstream_status)
        if status == exc.upstream_status:
            raise
        raise UpstreamStatusError(
            exc.detail,
            upstream_status=status,
            upstream_type=exc.upstream_type,
            param=exc.param,
            code=exc.code,
            headers=exc.headers,
        ) from exc
