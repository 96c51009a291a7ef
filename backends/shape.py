"""What an upstream's answer must look like before it is relayed.

A 200 whose body is not an OpenAI-shaped object is the upstream's fault, like a 5xx: raised as
:class:`UpstreamInvalidResponse`, it is retried and falls back before any byte reaches the client,
and ends a stream that is already being relayed with an error event.
"""

from __future__ import annotations

from typing import Any

from backends.base import JSON, Operation
from backends.responses_wire import response_problem
from gateway.core.errors import UpstreamInvalidResponse


def check_answer(op: Operation, body: JSON, deployment: str) -> None:
    """Raise unless ``body`` is a non-streamed answer of ``op`` that a client could read."""
    problem = _answer_problem(op, body)
    if problem is not None:
        raise UpstreamInvalidResponse(f"upstream {deployment} sent an invalid answer: {problem}")


def check_chunk(op: Operation, chunk: JSON, deployment: str) -> None:
    """Raise unless ``chunk`` is a stream chunk of ``op``: ``choices`` a list of objects, if any."""
    choices = chunk.get("choices")
    problem = _usage_problem(chunk)
    if choices is not None:
        problem = problem or _choices_problem(choices, "delta" if op is Operation.CHAT else "text", allow_empty=True)
    if problem is not None:
        raise UpstreamInvalidResponse(f"upstream {deployment} sent an invalid stream chunk: {problem}")


def _answer_problem(op: Operation, body: JSON) -> str | None:
    problem = _usage_problem(body)
    if problem is not None:
        return problem
    if op is Operation.RESPONSES:
        return response_problem(body)
    if op is Operation.EMBEDDINGS:
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(i, dict) and "embedding" in i for i in data):
            return "`data` is not a list of embeddings"
        return None
    return _choices_problem(body.get("choices"), "message" if op is Operation.CHAT else "text", allow_empty=False)


def _choices_problem(choices: Any, part: str, *, allow_empty: bool) -> str | None:
    if not isinstance(choices, list) or not (choices or allow_empty):
        return "`choices` is not a list of choices"
    for choice in choices:
        if not isinstance(choice, dict):
            return "a choice is not an object"
        value = choice.get(part)
        if value is None and part in ("text", "delta"):
            continue  # a chunk may carry only a finish_reason
        if not isinstance(value, str if part == "text" else dict):
            return f"a choice's `{part}` is missing or of the wrong type"
    return None


def _usage_problem(body: JSON) -> str | None:
    usage = body.get("usage")
    return None if usage is None or isinstance(usage, dict) else "`usage` is not an object"
