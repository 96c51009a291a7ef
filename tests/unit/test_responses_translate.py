"""The Responses API's translation to chat completions and back, and its event stream, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from gateway.core.errors import InvalidRequest
from gateway.edge import sse
from gateway.protocol.decoding import validate
from gateway.protocol.responses import ResponseRequest
from gateway.responses import answer, translate
from gateway.responses.events import ResponseEvents


def _request(**fields: Any) -> tuple[ResponseRequest, dict[str, Any]]:
    raw = {"model": "m", "input": "hi", **fields}
    request = validate(raw, ResponseRequest)
    request.check(raw)
    return request, raw


def _chat(**fields: Any) -> dict[str, Any]:
    request, raw = _request(**fields)
    return translate.chat_body(request, [], translate.input_items(request), request.extra(raw))


def test_items_become_messages_with_parallel_calls_in_one_assistant_turn() -> None:
    chat = _chat(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Use metric units."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "3 C"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "21 C"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ],
    )
    calls = [
        {"id": cid, "type": "function", "function": {"name": "weather", "arguments": f'{{"city":"{city}"}}'}}
        for cid, city in (("c1", "Oslo"), ("c2", "Rome"))
    ]
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "3 C"},
        {"role": "tool", "tool_call_id": "c2", "content": "21 C"},
    ]


def test_parameters_take_their_chat_spelling_and_extras_pass_through() -> None:
    chat = _chat(
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_object"}, "verbosity": "low"},
        max_output_tokens=100,
        reasoning={"effort": "high", "summary": "auto"},
        ignore_eos=True,
        store=False,
        metadata={"a": "b"},
    )
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert (chat["parallel_tool_calls"], chat["response_format"], chat["verbosity"]) == (
        False,
        {"type": "json_object"},
        "low",
    )
    assert (chat["max_completion_tokens"], chat["reasoning_effort"], chat["ignore_eos"]) == (100, "high", True)
    assert "store" not in chat and "metadata" not in chat and "input" not in chat


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].image_url",
        ),
        ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
        ({"tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"max_output_tokens": 8}, "max_output_tokens"),
        ({"input": []}, "input"),
        ({"n": 2}, "n"),
        ({"messages": []}, "messages"),
    ],
)
def test_what_has_no_chat_spelling_is_refused_by_name(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _chat(**fields)
    assert refused.value.param == param


def test_a_chat_answer_becomes_output_items_and_responses_usage() -> None:
    message = {
        "role": "assistant",
        "content": "Calling.",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    items = answer.output_items("req_ab", message, "tool_calls")
    assert [item["type"] for item in items] == ["message", "function_call"]
    assert items[0]["id"] == "msg_ab" and items[0]["content"][0]["text"] == "Calling."
    assert (items[1]["id"], items[1]["call_id"], items[1]["status"]) == ("fc_ab_0", "call_1", "completed")
    usage = answer.usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
            "cost": Decimal("0.000012"),
        }
    )
    assert usage == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
        "cost": Decimal("0.000012"),
    }


async def _frames(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield sse.event(chunk)
    yield sse.DONE


def _decoded(frames: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for frame in frames:
        name, data = frame.decode().strip().split("\n")
        event = msgspec.json.decode(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        events.append(event)
    return events


async def test_a_stream_with_text_then_a_call_is_relayed_as_responses_events() -> None:
    def delta(**fields: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}

    call = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
    chunks = [
        delta(role="assistant", content=""),
        delta(content="Hel"),
        delta(content="lo"),
        delta(tool_calls=[call]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": ":1}"}}]),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "cost": 0.000001}},
    ]
    kept: list[dict[str, Any]] = []

    async def keep(final: dict[str, Any]) -> dict[str, Any]:
        kept.append(final)
        return final

    request, _ = _request()
    skeleton = answer.skeleton(request, "req_s", "m", 1)
    events = _decoded([frame async for frame in ResponseEvents(_frames(chunks), skeleton, "req_s", keep)])

    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final == {**kept[0], "usage": {**kept[0]["usage"], "cost": 1e-06}}
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Hello" and final["output"][1]["arguments"] == '{"a":1}'
    assert events[9]["output_index"] == 1 and events[12]["arguments"] == '{"a":1}'
    assert final["usage"]["total_tokens"] == 7 and final["status"] == "completed"


async def test_an_upstream_error_mid_stream_fails_the_response_and_keeps_nothing() -> None:
    kept: list[dict[str, Any]] = []

    async def keep(final: dict[str, Any]) -> dict[str, Any]:
        kept.append(final)
        return final

    async def frames() -> AsyncIterator[bytes]:
        yield sse.event({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})
        yield sse.event({"error": {"message": "upstream broke", "type": "server_error", "code": "upstream_error"}})

    request, _ = _request()
    skeleton = answer.skeleton(request, "req_e", "m", 1)
    events = _decoded([frame async for frame in ResponseEvents(frames(), skeleton, "req_e", keep)])
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "upstream_error", "message": "upstream broke"}
    assert kept == []


async def test_the_stream_completes_with_the_response_as_keep_delivered_it() -> None:
    async def keep(final: dict[str, Any]) -> dict[str, Any]:
        return {**final, "store": False}  # as the keeper says a response it could not store

    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
    ]
    request, _ = _request()
    skeleton = answer.skeleton(request, "req_k", "m", 1)
    events = _decoded([frame async for frame in ResponseEvents(_frames(chunks), skeleton, "req_k", keep)])
    assert events[-1]["type"] == "response.completed"
    delivered = events[-1]["response"]
    assert delivered["store"] is False and delivered["output"][0]["content"][0]["text"] == "Hi"


async def test_a_reasoning_models_thinking_becomes_a_reasoning_item_before_the_text() -> None:
    def delta(**fields: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}

    chunks = [
        delta(role="assistant", reasoning_content="Two and "),
        delta(reasoning_content="two."),
        delta(content="4"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    kept: list[dict[str, Any]] = []

    async def keep(final: dict[str, Any]) -> dict[str, Any]:
        kept.append(final)
        return final

    request, _ = _request()
    skeleton = answer.skeleton(request, "req_r", "m", 1)
    events = _decoded([frame async for frame in ResponseEvents(_frames(chunks), skeleton, "req_r", keep)])
    assert [e["type"] for e in events][2:9] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert events[6]["text"] == "Two and two." and events[9]["item"]["type"] == "message"
    streamed = kept[0]["output"]
    whole = answer.output_items("req_r", {"reasoning_content": "Two and two.", "content": "4"}, "stop")
    assert streamed == whole
    assert [item["type"] for item in whole] == ["reasoning", "message"]
    assert whole[0]["content"] == [{"type": "reasoning_text", "text": "Two and two."}]
