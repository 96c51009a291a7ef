"""``POST /v1/responses`` (OpenAI's Responses API) and the query of ``GET /v1/responses/{id}/input_items``.

Input items, tools and output items stay plain JSON objects here: their many shapes are checked
where they are translated (``gateway/responses/translate.py``), which names the offending item.
Parameters this gateway cannot honour are refused by name (``UNSUPPORTED``), never ignored; fields the
API does not define are passed through to the chat request, as on ``/v1/chat/completions``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.protocol.decoding import invalid
from gateway.protocol.limits import MAX_OUTPUT_TOKENS

Probability = Annotated[float, Meta(ge=0, le=1)]

# What each refused parameter would need, for the message of its 400.
UNSUPPORTED = {
    "background": "background responses are not supported by this gateway; omit 'background'",
    "conversation": "conversation objects are not supported by this gateway; chain with 'previous_response_id'",
    "prompt": "stored prompt templates are not supported by this gateway; send 'input' and 'instructions'",
    "top_logprobs": "log probabilities are not supported on /v1/responses by this gateway",
    "max_tool_calls": "'max_tool_calls' is not supported by this gateway",
    "context_management": "'context_management' is not supported by this gateway",
}
# Accepted and answered as OpenAI does, with no effect on a translated request.
IGNORED = ("service_tier", "prompt_cache_key", "prompt_cache_retention", "safety_identifier", "stream_options")
# Chat fields that the Responses API spells otherwise (or answers one way only): never passed through,
# so that a request cannot ask the chat upstream for what the translation would drop (``n`` answers).
CHAT_ONLY = (
    "messages",
    "n",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
    "reasoning_effort",
    "logprobs",
    "functions",
    "function_call",
    "modalities",
    "audio",
)
MAX_METADATA_PAIRS = 16


class Reasoning(msgspec.Struct):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class TextFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class TextConfig(msgspec.Struct):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponseRequest(msgspec.Struct):
    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    stream: bool | None = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: Annotated[int, Meta(ge=16, le=MAX_OUTPUT_TOKENS)] | None = None
    reasoning: Reasoning | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Probability | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[str] | None = None

    def check(self, raw: dict[str, Any]) -> None:
        """Rules that span several fields, and the refusals of what this gateway does not do."""
        for name, why in UNSUPPORTED.items():
            if raw.get(name) not in (None, False):
                raise invalid(name, f"Unsupported parameter: '{name}': {why}.", "unsupported_parameter")
        for name in CHAT_ONLY:
            if name in raw:
                raise invalid(name, f"Unrecognized request argument supplied: {name}", "unknown_parameter")
        if self.input is None or self.input == "" or self.input == []:
            raise invalid("input", "'input' must be a non-empty string or a non-empty list of items.")
        if self.truncation == "auto":
            raise invalid("truncation", "Unsupported value: 'truncation' 'auto'; only 'disabled'.", "unsupported_value")
        if self.include:
            raise invalid("include", f"Unsupported value: 'include' {self.include[0]!r}.", "unsupported_value")
        self._check_metadata()
        form = self.text.format if self.text else None
        if form is not None and form.type == "json_schema" and (not form.name or form.schema is None):
            raise invalid("text.format", "'text.format' of type 'json_schema' needs 'name' and 'schema'.")

    def extra(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Fields the Responses API does not define (an engine's own, such as vLLM's ``ignore_eos``):
        passed through to the chat request, as ``/v1/chat/completions`` passes them."""
        known = {*self.__struct_fields__, *UNSUPPORTED, *IGNORED}
        return {name: value for name, value in raw.items() if name not in known}

    def _check_metadata(self) -> None:
        metadata = self.metadata or {}
        if len(metadata) > MAX_METADATA_PAIRS:
            raise invalid("metadata", f"'metadata' may hold at most {MAX_METADATA_PAIRS} pairs.")
        for key, value in metadata.items():
            if len(key) > 64 or len(value) > 512:
                raise invalid(f"metadata.{key}", "'metadata' keys are at most 64 characters, values 512.")


class InputItemsQuery(msgspec.Struct):
    """``GET /v1/responses/{id}/input_items``: a cursor page, newest first by default, as OpenAI's."""

    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
