"""Which upstream failures are retried, which fall back to the next deployment, and how long to wait.

All of it applies only before the first byte reached the client: the router retries around the
call and around the wait for a stream's first chunk, never inside a stream being relayed.
"""

from __future__ import annotations

import re

from gateway.config.routing import RetrySettings
from gateway.core.errors import (
    Overloaded,
    TollgateError,
    UpstreamError,
    UpstreamStatusError,
)

# What vLLM, OpenAI and Anthropic say when the prompt does not fit the model's context window.
_CONTEXT_OVERFLOW = re.compile(r"context[ _]length|maximum context|context window|prompt is too long", re.I)


def retryable(exc: TollgateError) -> bool:
    """Connect errors, timeouts, broken answers, 429 and 5xx: worth another try."""
    if isinstance(exc, UpstreamStatusError):
        return exc.upstream_status == 429 or exc.upstream_status >= 500
    return isinstance(exc, UpstreamError)


def context_overflow(exc: TollgateError) -> bool:
    return (
        isinstance(exc, UpstreamStatusError)
        and exc.upstream_status in (400, 413)
        and (exc.code == "context_length_exceeded" or bool(_CONTEXT_OVERFLOW.search(exc.message)))
    )


def falls_back(exc: TollgateError) -> bool:
    """Whether the next deployment of the chain may succeed where this one failed: it failed, was
    rate limited or overloaded, refused the deployment's own credentials, or its context is too short."""
    if retryable(exc) or isinstance(exc, Overloaded) or context_overflow(exc):
        return True
    return isinstance(exc, UpstreamStatusError) and exc.upstream_status in (401, 403)


def blames_replica(exc: TollgateError) -> bool:
    """A failure that says the replica is unwell (not that the request or the rate was wrong), each
    failed upstream call once."""
    if exc.echo:
        return False
    if isinstance(exc, UpstreamStatusError):
        return exc.upstream_status >= 500
    return isinstance(exc, UpstreamError)


def retry_after(exc: TollgateError) -> float | None:
    value = exc.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: not worth parsing for a wait this short


def delay(settings: RetrySettings, attempt: int, exc: TollgateError, draw: float) -> float | None:
    """Seconds to wait before try ``attempt + 1`` of the same deployment, or None to stop trying it.

    Full jitter (``draw`` in [0, 1)) over an exponential cap; a ``Retry-After`` is honoured, and
    one longer than ``max_retry_after`` ends the tries at once so that the request falls back."""
    if attempt + 1 >= settings.attempts or not retryable(exc):
        return None
    asked = retry_after(exc)
    if asked is not None and asked > settings.max_retry_after:
        return None
    backoff: float = draw * min(settings.max_backoff, settings.backoff * 2.0**attempt)
    return max(backoff, asked or 0.0)
