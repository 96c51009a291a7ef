"""OpenAI's Responses API on the wire, for upstreams that serve ``/v1/responses`` themselves.

What a passed-through answer must look like before it is relayed (a 200 that is not a ``response``
object is the upstream's fault: :class:`UpstreamInvalidResponse`, retried and fallen back like a
5xx), and the upstream's event stream read event by event: each ``data:`` is a JSON object with a
``type``; the stream ends with ``response.completed``, ``response.incomplete`` or
``response.failed`` (OpenAI sends no ``[DONE]``; some servers do, and it is skipped).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from backends.base import JSON
from backends.http import decode_json
from backends.sse import iter_events
from gateway.core.errors import UpstreamInvalidResponse, UpstreamProtocolError, UpstreamStatusError

# The events that carry the whole response object and end a stream.
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# The events that carry the whole response object.
CARRIES_RESPONSE = TERMINAL | {"response.created", "response.in_progress", "response.queued"}


def check_response(body: JSON, deployment: str) -> None:
    """Raise unless ``body`` is a ``response`` object a client could read."""
    problem = response_problem(body)
    if problem is not None:
        raise UpstreamInvalidResponse(f"upstream {deployment} sent an invalid answer: {problem}")


def response_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("object") != "response":
        return "it is not a `response` object"
    if not isinstance(body.get("id"), str):
        return "`id` is not a string"
    output = body.get("output")
    if not isinstance(output, list) or not all(isinstance(item, dict) and "type" in item for item in output):
        return "`output` is not a list of items"
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        return "`usage` is not an object"
    return None


def check_event(event: Any, deployment: str) -> None:
    """Raise unless ``event`` is a Responses stream event: an object with a ``type``, and for the
    events that carry it, a valid ``response``."""
    problem = None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        problem = "an event is not an object with a `type`"
    elif event["type"] in CARRIES_RESPONSE:
        problem = response_problem(event.get("response"))
    if problem is not None:
        raise UpstreamInvalidResponse(f"upstream {deployment} sent an invalid stream event: {problem}")


async def read_events(upstream: str, chunks: AsyncIterable[bytes]) -> AsyncIterator[JSON]:
    """The upstream's events in order, checked. An ``error`` event is raised as the upstream's error
    (before the first event: an ordinary HTTP error for the client); a stream that ends before its
    terminal event is a protocol error."""
    async for raw in iter_events(chunks):
        if raw.payload.strip() == b"[DONE]":
            break
        event = decode_json(upstream, raw.payload)
        if event.get("type") == "error" or ("error" in event and "type" not in event):
            raise stream_error(upstream, event)
        check_event(event, upstream)
        yield event
        if event["type"] in TERMINAL:
            return
    raise UpstreamProtocolError(f"upstream {upstream} ended the stream before it was complete")


def stream_error(upstream: str, event: JSON) -> UpstreamStatusError:
    """A Responses ``error`` event (``code``, ``message`` at the top) or an OpenAI error envelope."""
    nested = event.get("error")
    error: JSON = nested if isinstance(nested, dict) else event
    code = error.get("code")
    return UpstreamStatusError(
        str(error.get("message") or f"upstream {upstream} failed mid-stream"),
        upstream_status=code if isinstance(code, int) else 502,
        upstream_type=error.get("type") if error is not event else None,
    )
