"""Size limits on a request's content, beyond its byte size (which the edge limits as it reads)."""

from __future__ import annotations

from typing import Any

from gateway.core.numbers import INT32_MAX
from gateway.protocol.decoding import invalid

# No model writes more tokens than this in one answer; bounding the count here keeps the
# reservation's arithmetic (tokens x price, in Decimal and in Redis) within range for every key.
MAX_OUTPUT_TOKENS = INT32_MAX
TOKEN_LIMITS = ("max_tokens", "max_completion_tokens")


def check_size(parsed: Any, *, max_messages: int) -> None:
    """A chat request may carry at most ``max_messages`` messages (the setting of that name), and ask
    for at most ``MAX_OUTPUT_TOKENS`` tokens per answer."""
    for name in TOKEN_LIMITS:
        tokens = getattr(parsed, name, None)
        if isinstance(tokens, int) and tokens > MAX_OUTPUT_TOKENS:
            raise invalid(
                name, f"'{name}' may be at most {MAX_OUTPUT_TOKENS}; no model answers with more.", "tokens_too_large"
            )
    messages = getattr(parsed, "messages", None)
    if isinstance(messages, list) and len(messages) > max_messages:
        raise invalid(
            "messages",
            f"'messages' has {len(messages)} messages; this gateway accepts at most {max_messages} (max_messages).",
            code="too_many_messages",
        )
