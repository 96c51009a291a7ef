"""``POST /v1/completions`` (the legacy text completions API)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.protocol.chat import Penalty, PositiveInt, Probability, StreamOptions
from gateway.protocol.decoding import invalid


class CompletionRequest(msgspec.Struct):
    model: str
    prompt: str | list[Any]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    best_of: Annotated[int, Meta(ge=1, le=20)] | None = None
    max_tokens: PositiveInt | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Probability | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    stop: str | Annotated[list[str], Meta(max_length=4)] | None = None
    logprobs: Annotated[int, Meta(ge=0, le=5)] | None = None
    echo: bool | None = None
    suffix: str | None = None
    seed: int | None = None
    user: str | None = None

    def check(self) -> None:
        if isinstance(self.prompt, list):
            check_token_inputs("prompt", self.prompt, allow_empty_text=True)
        if self.stream_options is not None and not self.stream:
            raise invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")

    @property
    def wants_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def check_token_inputs(param: str, items: list[Any], *, allow_empty_text: bool) -> None:
    """A list input is texts, token ids, or lists of token ids, never a mix, never empty."""
    if not items:
        raise invalid(param, f"'{param}' must not be an empty list.")
    if all(isinstance(i, str) for i in items):
        if not allow_empty_text and any(not i for i in items):
            raise invalid(param, f"'{param}' must not contain empty strings.")
        return
    if all(_is_token(i) for i in items):
        return
    if all(isinstance(i, list) and i and all(_is_token(t) for t in i) for i in items):
        return
    raise invalid(
        param, f"'{param}' must be a string, a list of strings, a list of token ids, or a list of such lists."
    )


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
