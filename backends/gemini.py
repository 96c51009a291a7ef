"""Google Gemini's native API (``generateContent``, ``streamGenerateContent``,
``batchEmbedContents``) behind the OpenAI chat completions and embeddings contract.

The translation both ways lives in :mod:`backends.gemini_wire` (requests) and
:mod:`backends.gemini_answers` (answers, errors, streams); this module does the I/O.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from backends.base import JSON, BackendContext, Operation
from backends.gemini_answers import StreamTranslator, status_error, to_chat_completion, to_embeddings
from backends.gemini_wire import model_path, to_embed_request, to_generate_request
from backends.http import answered, decode_json, mapped_transport_errors, probe
from backends.http_exchange import Response
from backends.openai_compatible import Timeouts
from backends.sse import iter_events
from gateway.core.errors import (
    UPSTREAM_AUTH_STATUSES,
    UnsupportedOperation,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from gateway.core.redact import redacted

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
MAX_BATCH = 100  # requests in one batchEmbedContents call
log = logging.getLogger("tollgate.upstream")


class GeminiConfig(msgspec.Struct, tag="gemini", forbid_unknown_fields=True):
    """The deployment's ``model`` names the Gemini model (``gemini-2.5-flash``, ``text-embedding-004``)."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    # Extra request headers, e.g. ``x-goog-user-project``.
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None


class GeminiBackend:
    def __init__(self, name: str, ctx: BackendContext, config: GeminiConfig) -> None:
        self.name = name
        self._http = ctx.http
        self._tokens = ctx.tokens
        self._base_url = config.base_url.rstrip("/")
        self._timeout = config.timeouts.to_client()
        self._headers = {"content-type": "application/json", **config.headers, "x-goog-api-key": config.api_key}

    @classmethod
    def from_config(cls, name: str, config: GeminiConfig, ctx: BackendContext) -> GeminiBackend:
        return cls(name, ctx, config)

    def supports(self, op: Operation) -> bool:
        return op in (Operation.CHAT, Operation.EMBEDDINGS)

    def _url(self, body: JSON, method: str) -> str:
        return f"{self._base_url}/models/{model_path(body.get('model'))}:{method}"

    async def request(self, op: Operation, body: JSON) -> JSON:
        if op is Operation.EMBEDDINGS:
            return await self._embed(body)
        if op is not Operation.CHAT:
            raise UnsupportedOperation(f"backend {self.name} (gemini) serves chat completions and embeddings only")
        payload = to_generate_request(body)
        answer = await self._post(self._url(body, "generateContent"), payload)
        return to_chat_completion(answer, model=body.get("model"), created=int(time.time()))

    async def _embed(self, body: JSON) -> JSON:
        model = model_path(body.get("model"))
        texts, payload = to_embed_request(body, model)
        url, requests = self._url(body, "batchEmbedContents"), payload["requests"]
        embeddings: list[Any] = []
        for start in range(0, len(requests), MAX_BATCH):  # Gemini takes at most 100 per call
            batch = requests[start : start + MAX_BATCH]
            answered = (await self._post(url, {"requests": batch})).get("embeddings")
            if not isinstance(answered, list) or len(answered) != len(batch):
                raise UpstreamProtocolError(f"upstream {self.name} did not answer one embedding per input")
            embeddings.extend(answered)
        answer = {"embeddings": embeddings}
        tokens = sum(self._tokens.count(text) for text in texts)
        as_base64 = body.get("encoding_format") == "base64"
        return to_embeddings(answer, model=str(body.get("model")), prompt_tokens=tokens, as_base64=as_base64)

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        if op is not Operation.CHAT:
            raise UnsupportedOperation(f"backend {self.name} (gemini) streams chat completions only")
        payload = to_generate_request(body)
        translator = StreamTranslator(model=body.get("model"), created=int(time.time()))
        url = self._url(body, "streamGenerateContent") + "?alt=sse"
        # Leaving this block (the end, an error, or the consumer closing this iterator) closes the
        # upstream response and so its connection.
        async with self._open(url, payload) as response:
            with mapped_transport_errors(self.name):
                async for event in iter_events(response.chunks()):
                    for chunk in translator.feed(decode_json(self.name, event.data.encode())):
                        yield chunk
        for chunk in translator.finish():
            yield chunk

    async def _post(self, url: str, payload: JSON) -> JSON:
        async with self._open(url, payload) as response:
            with mapped_transport_errors(self.name):
                content = await response.read()
        return decode_json(self.name, content)

    @contextlib.asynccontextmanager
    async def _open(self, url: str, payload: JSON) -> AsyncIterator[Response]:
        """POST, raise Gemini's error for an HTTP error, else lend the response until the block ends."""
        data = msgspec.json.encode(payload)
        with mapped_transport_errors(self.name):
            response = await self._http.request("POST", url, headers=self._headers, body=data, timeout=self._timeout)
        async with answered(self.name, response, self._refused) as answer:
            yield answer

    def _refused(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamStatusError:
        error = status_error(status, headers, body)
        if error.upstream_status in UPSTREAM_AUTH_STATUSES:
            log.warning(
                "upstream %s refused the gateway's credentials (HTTP %s): %s",
                self.name,
                error.upstream_status,
                redacted(error.detail),
            )
        return error

    async def ready(self) -> bool:
        return await probe(self._http, f"{self._base_url}/models", self._headers)

    async def aclose(self) -> None:
        """The shared HTTP client belongs to the gateway's lifespan, not to the backend."""
