"""The affinity key of a request: what keeps a conversation on the replica whose prefix cache holds it."""

from __future__ import annotations

from typing import Any

import msgspec

PROMPT_PREFIX_CHARS = 1024


def affinity_key(raw: dict[str, Any], session: str | None) -> str | None:
    """The session header when given; else the start of the conversation, which every later turn
    repeats: the messages up to and including the first user message (the system prompt with it),
    or the first characters of a completion prompt."""
    if session:
        return f"session:{session}"
    messages = raw.get("messages")
    if isinstance(messages, list) and messages:
        head = []
        for message in messages:
            head.append(message)
            if isinstance(message, dict) and message.get("role") == "user":
                break
        return "chat:" + msgspec.json.encode(head).decode()
    prompt = raw.get("prompt")
    if isinstance(prompt, str) and prompt:
        return "prompt:" + prompt[:PROMPT_PREFIX_CHARS]
    return None
