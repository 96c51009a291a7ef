"""The usage of an upstream answer that reported none.

An answer without ``usage`` is counted with the tokenizer (prompt and returned text), as a stream
without a usage chunk is, so that it is priced and counted against the key's TPM.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from backends.base import JSON, Operation, TokenCounter, content_text


def counted_usage(op: Operation, body: JSON, prompt_tokens: int, tokens: TokenCounter) -> JSON:
    """The usage of a non-streamed answer that reported none: ``prompt_tokens`` and its own text."""
    completion = 0 if op is Operation.EMBEDDINGS else tokens.count("".join(answer_text(op, body.get("choices"))))
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def answer_text(op: Operation, choices: Any) -> Iterable[str]:
    """The generated text of an answer's or a chunk's choices: content, completion text, tool arguments."""
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        if op is not Operation.CHAT:
            yield _text(choice.get("text"))
            continue
        message = choice.get("message") or choice.get("delta") or {}
        yield content_text(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            yield _text(function.get("arguments")) if isinstance(function, dict) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def answer_id_of(body: JSON) -> str | None:
    """The id an answer (or a stream's first chunk) carries as the client sees it, e.g. ``chatcmpl-...``:
    recorded with its usage, so that feedback may name it. None when it has none that fits the column."""
    found = body.get("id")
    return found if isinstance(found, str) and 0 < len(found) <= 200 else None
