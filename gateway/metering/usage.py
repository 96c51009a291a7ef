"""Provider usage, normalised into disjoint token counts before anything is priced.

OpenAI counts cached tokens inside ``prompt_tokens`` and reasoning tokens inside
``completion_tokens``. Anthropic reports cache reads and writes apart from ``input_tokens``; its
backend already folds them into ``prompt_tokens`` (reads as ``cached_tokens``) and keeps the write
count as ``cache_creation_input_tokens``. After normalising, no token is counted twice.
"""

from __future__ import annotations

from typing import Any

import msgspec


class TokenUsage(msgspec.Struct, frozen=True):
    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.input + self.cached_input + self.cache_write + self.output + self.reasoning


def normalise(usage: dict[str, Any] | None) -> TokenUsage:
    if not usage:
        return TokenUsage()
    if "prompt_tokens" not in usage and "input_tokens" in usage:
        usage = _from_responses(usage)
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    # Every request is metered through here: the details, usually absent, are looked into only when there.
    details = usage.get("prompt_tokens_details")
    cached = min(_int(details.get("cached_tokens")), prompt) if details else 0
    written = usage.get("cache_creation_input_tokens")
    written = min(_int(written), prompt - cached) if written else 0
    details = usage.get("completion_tokens_details")
    reasoning = min(_int(details.get("reasoning_tokens")), completion) if details else 0
    # Positional: a struct takes them several times faster than keywords.
    return TokenUsage(prompt - cached - written, cached, written, completion - reasoning, reasoning)


def _from_responses(usage: dict[str, Any]) -> dict[str, Any]:
    """The Responses API's usage (``input_tokens``, ``output_tokens`` and their ``_details``) in
    chat's words, which count the same tokens the same way (cached within input, reasoning within output)."""
    return {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "prompt_tokens_details": usage.get("input_tokens_details"),
        "completion_tokens_details": usage.get("output_tokens_details"),
    }


def _int(value: Any) -> int:
    """A positive count, else 0 (``type`` rules out ``True``, which is an ``int``)."""
    return value if type(value) is int and value > 0 else 0
