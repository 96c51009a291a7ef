"""Size limits on a request's content, beyond its byte size (which the edge limits as it reads)."""

from __future__ import annotations

from typing import Any

from gateway.protocol.decoding import invalid


def check_size(parsed: Any, *, max_messages: int) -> None:
    """A chat request may carry at most ``max_messages`` messages (the setting of that name)."""
    messages = getattr(parsed, "messages", None)
    if isinstance(messages, list) and len(messages) > max_messages:
        raise invalid(
            "messages",
            f"'messages' has {len(messages)} messages; this gateway accepts at most {max_messages} (max_messages).",
            code="too_many_messages",
        )
