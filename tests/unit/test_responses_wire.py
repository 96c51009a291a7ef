"""A passed-through Responses answer: its shape check, its event stream, and its usage priced as chat's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backends.base import Operation
from backends.responses_wire import read_events
from backends.shape import check_answer
from gateway.core.errors import UpstreamInvalidResponse, UpstreamProtocolError, UpstreamStatusError
from gateway.metering.usage import TokenUsage, normalise

RESPONSE = {"id": "resp_1", "object": "response", "output": [{"type": "message"}], "usage": None}


@pytest.mark.parametrize(
    "body",
    [
        {"choices": []},
        {**RESPONSE, "object": "chat.completion"},
        {**RESPONSE, "output": "nope"},
        {**RESPONSE, "output": [{"text": "no type"}]},
        {**RESPONSE, "usage": 3},
        {**RESPONSE, "id": None},
    ],
)
def test_an_answer_that_is_not_a_response_is_invalid(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamInvalidResponse):
        check_answer(Operation.RESPONSES, body, "native")


def test_a_response_passes() -> None:
    check_answer(Operation.RESPONSES, RESPONSE, "native")


def test_responses_usage_is_normalised_as_chat_usage_is() -> None:
    responses = {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 8},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 18,
    }
    chat = {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert normalise(responses) == normalise(chat) == TokenUsage(input=3, cached_input=8, output=5, reasoning=2)


async def _frames(*events: dict[str, Any] | str) -> AsyncIterator[bytes]:
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        yield f"event: x\ndata: {data}\n\n".encode()


async def _read(*events: dict[str, Any] | str) -> list[str]:
    return [event["type"] async for event in read_events("native", _frames(*events))]


async def test_the_stream_ends_with_its_terminal_event() -> None:
    created = {"type": "response.created", "response": RESPONSE}
    delta = {"type": "response.output_text.delta", "delta": "Hi"}
    done = {"type": "response.completed", "response": RESPONSE}
    assert await _read(created, delta, done, delta) == [
        "response.created",
        "response.output_text.delta",
        "response.completed",
    ]


async def test_a_stream_cut_short_an_error_event_and_a_shapeless_event_are_upstream_faults() -> None:
    created = {"type": "response.created", "response": RESPONSE}
    with pytest.raises(UpstreamProtocolError, match="before it was complete"):
        await _read(created, "[DONE]")
    with pytest.raises(UpstreamStatusError, match="overloaded"):
        await _read(created, {"type": "error", "code": "server_error", "message": "overloaded"})
    with pytest.raises(UpstreamInvalidResponse):
        await _read({"type": "response.created", "response": {"object": "response"}})
    with pytest.raises(UpstreamInvalidResponse):
        await _read({"no": "type"})
