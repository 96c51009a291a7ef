"""``POST /v1/chat/completions``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.protocol.decoding import invalid

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(msgspec.Struct):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(msgspec.Struct):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(msgspec.Struct):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(msgspec.Struct):
    name: str


class NamedToolChoice(msgspec.Struct):
    type: Literal["function"]
    function: NamedFunction


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


Probability = Annotated[float, Meta(ge=0, le=1)]
Penalty = Annotated[float, Meta(ge=-2, le=2)]
PositiveInt = Annotated[int, Meta(ge=1)]


class ChatCompletionRequest(msgspec.Struct):
    model: str
    messages: list[ChatMessage]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Probability | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    stop: str | Annotated[list[str], Meta(max_length=4)] | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    logit_bias: dict[str, Annotated[float, Meta(ge=-100, le=100)]] | None = None
    seed: int | None = None
    user: str | None = None

    def check(self) -> None:
        """Rules that span several fields, phrased as OpenAI phrases them."""
        if not self.messages:
            raise invalid("messages", "'messages' must contain at least one message.")
        if self.stream_options is not None and not self.stream:
            raise invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        if self.top_logprobs is not None and not self.logprobs:
            raise invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.")
        if isinstance(self.tool_choice, NamedToolChoice) and not self.tools:
            raise invalid("tool_choice", "'tool_choice' names a function but no 'tools' were given.")
        if self.response_format and self.response_format.type == "json_schema" and not self.response_format.json_schema:
            raise invalid("response_format.json_schema", "'response_format' of type 'json_schema' needs 'json_schema'.")
        for i, message in enumerate(self.messages):
            if message.role == "tool" and not message.tool_call_id:
                raise invalid(f"messages[{i}].tool_call_id", "Messages with role 'tool' need a 'tool_call_id'.")
            if message.content is None and message.role not in ("assistant", "function"):
                raise invalid(f"messages[{i}].content", f"Messages with role '{message.role}' need 'content'.")

    @property
    def wants_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
