"""Azure OpenAI: OpenAI's models behind Azure's deployment URLs.

Azure speaks OpenAI's wire format, so this is :class:`OpenAICompatibleBackend` with what differs
overridden. Each request goes to ``{endpoint}/openai/deployments/{deployment}/{operation}?api-version=``,
where the deployment is the model name the gateway's deployment names (``model:`` in the config);
the key travels in the ``api-key`` header, or a Microsoft Entra token as ``Authorization: Bearer``.

Azure adds to OpenAI's answers what its content filter found: ``prompt_filter_results`` and per
choice ``content_filter_results`` (kept, as unknown fields are), and in streams chunks that carry only
those annotations (dropped: an OpenAI client reads every chunk as a delta). Its errors are
``{"error": {"code", "message", "innererror": {...}}}`` without OpenAI's ``type``; they are given
the OpenAI type and code a client expects, and a prompt refused by the content filter (400
``content_filter``) says so in plain words. A completion cut by the filter ends with
``finish_reason: content_filter``, as OpenAI's own do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import msgspec

from backends.base import JSON, BackendContext, Operation
from backends.openai_compatible import OpenAICompatibleBackend, Timeouts
from gateway.core.errors import UPSTREAM_AUTH_STATUSES, UpstreamStatusError

# The newest generally available data-plane inference version: chat, completions, embeddings, and
# the usage chunk of a stream (``stream_options``).
DEFAULT_API_VERSION = "2024-10-21"
_SERVED = frozenset({Operation.CHAT, Operation.COMPLETIONS, Operation.EMBEDDINGS})
CONTENT_FILTERED = (
    "Azure OpenAI's content filter refused this request (its content management policy flagged the prompt); "
    "change the prompt and retry."
)
# What OpenAI calls the errors Azure names only by a code.
_TYPES = {400: "invalid_request_error", 429: "requests"}


class AzureConfig(msgspec.Struct, tag="azure", forbid_unknown_fields=True):
    """``endpoint`` is the resource's root (``https://NAME.openai.azure.com``); give ``api_key`` or
    ``azure_ad_token`` (a Microsoft Entra access token), usually as ``${ENV}``."""

    endpoint: str
    api_key: str | None = None
    azure_ad_token: str | None = None
    api_version: str = DEFAULT_API_VERSION
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None

    def __post_init__(self) -> None:
        if (self.api_key is None) == (self.azure_ad_token is None):
            raise ValueError("an azure backend needs exactly one of api_key and azure_ad_token")


class AzureBackend(OpenAICompatibleBackend):
    def __init__(self, name: str, config: AzureConfig, ctx: BackendContext) -> None:
        # The Entra token is OpenAI's bearer header; the key is Azure's own header.
        super().__init__(
            name,
            ctx,
            api_key=config.azure_ad_token,
            headers=config.headers,
            timeouts=config.timeouts,
            base_url=f"{config.endpoint.rstrip('/')}/openai",
        )
        if config.api_key is not None:
            self._headers["api-key"] = config.api_key
        self._version = quote(config.api_version, safe="")

    def supports(self, op: Operation) -> bool:
        return op in _SERVED

    def _url(self, op: Operation, body: JSON) -> str:
        deployment = quote(str(body.get("model") or ""), safe="")
        return f"{self._base_url}/deployments/{deployment}/{op.value}?api-version={self._version}"

    async def request(self, op: Operation, body: JSON) -> JSON:
        with _azure_errors():
            return await super().request(op, body)

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        with _azure_errors():
            async for chunk in super().stream(op, body):
                if not _annotation_only(chunk):
                    yield chunk

    async def ready(self) -> bool:
        return await self._probe(f"{self._base_url}/models?api-version={self._version}")


def _annotation_only(chunk: JSON) -> bool:
    """A chunk that carries only content-filter results: the prompt's (no choices, no usage) or a
    completion's, when the filter runs beside the stream (a choice with neither delta nor finish)."""
    choices = chunk.get("choices") or []
    if not choices:
        return chunk.get("usage") is None
    return all(c.get("delta") is None and c.get("finish_reason") is None for c in choices)


@contextlib.contextmanager
def _azure_errors() -> Iterator[None]:
    try:
        yield
    except UpstreamStatusError as exc:
        raise _openai_shaped(exc) from exc


def _openai_shaped(exc: UpstreamStatusError) -> UpstreamStatusError:
    """Azure's error as OpenAI would have said it. A 404 (a missing deployment, an API version the
    resource does not serve) is the operator's mistake, not the client's: a 502, so that the router
    falls back to another deployment."""
    status = exc.upstream_status
    if exc.upstream_type is not None or status in UPSTREAM_AUTH_STATUSES or not 400 <= status < 600:
        return exc
    if exc.code == "content_filter":
        return UpstreamStatusError(
            CONTENT_FILTERED, upstream_status=400, upstream_type="invalid_request_error", code="content_filter"
        )
    if status == 404:  # no such deployment, or an API version the resource does not serve
        missing = "upstream_deployment_not_found" if exc.code == "DeploymentNotFound" else "upstream_not_found"
        return UpstreamStatusError(exc.detail, upstream_status=502, code=missing)
    code = "rate_limit_exceeded" if status == 429 else exc.code
    if code is not None and code.isdigit():  # Azure often names an error by its status alone
        code = None
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return UpstreamStatusError(
        exc.detail, upstream_status=status, upstream_type=kind, param=exc.param, code=code, headers=exc.headers
    )
