"""What may be answered from the cache, what may be stored in it, and what the client asked for.

Only deterministic requests are cached unless the model opts in (a cached answer to a sampled
request would freeze one sample), and only complete answers are stored: no errors, no answer cut
by ``max_tokens`` or a content filter, no tool calls (they ask the caller to act on fresh state).
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import JSON, Operation
from gateway.cache import embeddings
from gateway.core.errors import InvalidRequest
from gateway.core.numbers import INT32_MAX, whole_number
from gateway.settings import ModelCache

CACHED_OPERATIONS = frozenset({Operation.CHAT, Operation.COMPLETIONS, Operation.EMBEDDINGS, Operation.RESPONSES})
TTL_HEADER = "x-tollgate-cache-ttl"


@dataclass(frozen=True, slots=True)
class Controls:
    """The request's own cache controls: ``Cache-Control: no-cache`` skips the lookup, ``no-store``
    the write, and ``x-tollgate-cache-ttl`` sets how long its answer is kept."""

    read: bool = True
    write: bool = True
    ttl_seconds: int | None = None


DEFAULT_CONTROLS = Controls()


def parse_controls(cache_control: str | None, ttl: str | None) -> Controls:
    if cache_control is None and ttl is None:
        return DEFAULT_CONTROLS
    directives = {d.strip().lower().partition("=")[0] for d in (cache_control or "").split(",")}
    seconds = None
    if ttl is not None:
        seconds = whole_number(ttl, INT32_MAX)  # longer than the configured maximum is kept that long
        if not seconds:
            raise InvalidRequest(
                f"The {TTL_HEADER} header must be a whole number of seconds from 1 to {INT32_MAX}, not {ttl[:40]!r}.",
                param=TTL_HEADER,
                code="invalid_cache_ttl",
            )
    return Controls(read="no-cache" not in directives, write="no-store" not in directives, ttl_seconds=seconds)


def cacheable_request(op: Operation, raw: JSON, config: ModelCache, *, key_opts_in: bool = False) -> bool:
    """Whether the answer to this request may come from (and go into) the cache; the model's config
    or the key's (``key_opts_in``) may let sampled requests in."""
    if op not in CACHED_OPERATIONS:
        return False
    if op is Operation.EMBEDDINGS:  # deterministic: one input, one vector
        return True
    if op is Operation.RESPONSES and raw.get("stream"):  # a passed-through Responses stream is not replayed
        return False
    # Replays carry no log probabilities; such requests always go upstream.
    if raw.get("logprobs") or raw.get("top_logprobs"):
        return False
    if config.nondeterministic or key_opts_in:
        return True
    return raw.get("temperature") == 0 or raw.get("seed") is not None


def complete_answer(op: Operation, body: JSON) -> bool:
    """True when every choice ended by itself (``stop``) with text only (embeddings: every vector)."""
    if op is Operation.EMBEDDINGS:
        return embeddings.complete(body)
    if op is Operation.RESPONSES:  # passed through: completed, with messages only (no calls, no reasoning)
        output = body.get("output")
        if body.get("status") != "completed" or not isinstance(output, list) or not output:
            return False
        return all(isinstance(item, dict) and item.get("type") == "message" for item in output)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") != "stop":
            return False
        if op is Operation.CHAT:
            message = choice.get("message") or {}
            if message.get("tool_calls") or message.get("function_call") or not isinstance(message.get("content"), str):
                return False
        elif not isinstance(choice.get("text"), str):
            return False
    return True


def ttl_for(config: ModelCache, controls: Controls, key_ttl_seconds: int | None, max_ttl_seconds: int) -> int:
    """The request's ``x-tollgate-cache-ttl``, else the key's TTL, else the model's; never above the maximum."""
    return min(controls.ttl_seconds or key_ttl_seconds or config.ttl_seconds, max_ttl_seconds)
