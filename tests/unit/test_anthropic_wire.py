"""The pure OpenAI <-> Anthropic Messages translation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backends.anthropic_wire import (
    DEFAULT_MAX_TOKENS,
    StreamTranslator,
    openai_usage,
    to_chat_completion,
    to_messages_request,
)
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError

JSON = dict[str, Any]


def chat(*messages: JSON, **params: Any) -> JSON:
    return {"model": "claude-x", "messages": list(messages), **params}


def user(content: Any) -> JSON:
    return {"role": "user", "content": content}


# --- requests -------------------------------------------------------------------------------------


def test_system_and_developer_messages_become_the_top_level_system_prompt() -> None:
    request = to_messages_request(
        chat(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            user("Hi"),
        )
    )
    assert request == {
        "model": "claude-x",
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": DEFAULT_MAX_TOKENS,
    }


def test_a_cache_control_marker_keeps_the_system_prompt_in_block_form() -> None:
    marked = {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}
    request = to_messages_request(chat({"role": "system", "content": [marked]}, user("Hi")))
    assert request["system"] == [marked]


def test_consecutive_same_role_messages_are_merged_so_roles_alternate() -> None:
    request = to_messages_request(
        chat(
            user("one"),
            user([{"type": "text", "text": "two"}]),
            {"role": "assistant", "content": "three"},
            {"role": "assistant", "content": [{"type": "text", "text": "four"}]},
            user("five"),
        )
    )
    assert request["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        {"role": "user", "content": "five"},
    ]


def test_empty_messages_are_dropped_because_anthropic_rejects_empty_turns() -> None:
    request = to_messages_request(chat(user("a"), {"role": "assistant", "content": ""}, user("b")))
    assert request["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_data_url_images_become_base64_sources() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    request = to_messages_request(chat(user([{"type": "text", "text": "What is it?"}, part])))
    assert request["messages"][0]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    ]


def test_http_images_become_url_sources() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    request = to_messages_request(chat(user([part])))
    assert request["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    ]


@pytest.mark.parametrize("url", ["data:image/png,rawbytes", "ftp://example.com/cat.png", "data:;base64,AAAA"])
def test_unusable_image_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages_request(chat(user([{"type": "image_url", "image_url": {"url": url}}])))
    assert caught.value.param == "messages"


def test_images_are_refused_outside_user_messages() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    with pytest.raises(InvalidRequest):
        to_messages_request(chat(user("hi"), {"role": "assistant", "content": [image]}))


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_tools_become_anthropic_tools_with_input_schema() -> None:
    bare = {"type": "function", "function": {"name": "now"}}
    request = to_messages_request(chat(user("weather?"), tools=[WEATHER_TOOL, bare]))
    assert request["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in request


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_is_translated(choice: Any, expected: JSON) -> None:
    request = to_messages_request(chat(user("weather?"), tools=[WEATHER_TOOL], tool_choice=choice))
    assert request["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    request = to_messages_request(chat(user("weather?"), tools=[WEATHER_TOOL], parallel_tool_calls=False))
    assert request["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_assistant_tool_calls_and_tool_results_round_trip() -> None:
    request = to_messages_request(
        chat(
            user("Weather in Paris and Rome?"),
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
            user("Thanks, which is warmer?"),
        )
    )
    assert request["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
                {"type": "text", "text": "Thanks, which is warmer?"},
            ],
        },
    ]


def test_tool_call_arguments_that_are_not_json_are_refused() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(InvalidRequest):
        to_messages_request(chat(user("x"), {"role": "assistant", "content": None, "tool_calls": [call]}))


def test_sampling_parameters_stop_user_and_stream_are_translated() -> None:
    request = to_messages_request(
        chat(user("hi"), temperature=0.2, top_p=0.9, stop="END", user="customer-42", stream=True, seed=7)
    )
    assert request["temperature"] == 0.2
    assert request["top_p"] == 0.9
    assert request["stop_sequences"] == ["END"]
    assert request["metadata"] == {"user_id": "customer-42"}
    assert request["stream"] is True
    assert "seed" not in request
    assert to_messages_request(chat(user("hi"), stop=["a", "b"]))["stop_sequences"] == ["a", "b"]


def test_max_completion_tokens_wins_over_max_tokens_and_a_default_fills_in() -> None:
    assert to_messages_request(chat(user("hi"), max_tokens=10))["max_tokens"] == 10
    assert to_messages_request(chat(user("hi"), max_tokens=10, max_completion_tokens=20))["max_tokens"] == 20
    assert to_messages_request(chat(user("hi")), default_max_tokens=123)["max_tokens"] == 123


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools"),
    ],
)
def test_parameters_anthropic_cannot_honour_are_refused_by_name(params: JSON, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages_request(chat(user("hi"), **params))
    assert caught.value.param == param
    assert caught.value.http_status == 400


# --- responses ------------------------------------------------------------------------------------


def anthropic_message(content: list[JSON], stop_reason: str = "end_turn", **usage: int) -> JSON:
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_a_text_answer_becomes_a_chat_completion() -> None:
    completion = to_chat_completion(
        anthropic_message([{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world"}]), created=1700
    )
    assert completion["id"] == "chatcmpl-msg_01abc"
    assert completion["object"] == "chat.completion"
    assert completion["created"] == 1700
    assert completion["model"] == "claude-x"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, world", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]


def test_tool_use_blocks_become_tool_calls_with_json_arguments() -> None:
    message = anthropic_message(
        [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}], "tool_use"
    )
    choice = to_chat_completion(message, created=0)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_1"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls")],
)
def test_stop_reasons_map_to_openai_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    message = anthropic_message([{"type": "text", "text": "x"}], stop_reason)
    assert to_chat_completion(message, created=0)["choices"][0]["finish_reason"] == finish_reason


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens_and_keeps_them_apart() -> None:
    # 100 fresh + 2000 read from cache + 300 written to cache = 2400 prompt tokens.
    message = anthropic_message(
        [{"type": "text", "text": "x"}],
        input_tokens=100,
        cache_read_input_tokens=2000,
        cache_creation_input_tokens=300,
        output_tokens=50,
    )
    assert to_chat_completion(message, created=0)["usage"] == {
        "prompt_tokens": 2400,
        "completion_tokens": 50,
        "total_tokens": 2450,
        "prompt_tokens_details": {"cached_tokens": 2000},
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2000,
    }


def test_usage_treats_absent_or_null_cache_counts_as_zero() -> None:
    usage = openai_usage({"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": None})
    assert usage["prompt_tokens"] == 7
    assert usage["total_tokens"] == 10
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["cache_creation_input_tokens"] == 0


def test_an_answer_without_content_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        to_chat_completion({"id": "msg_1", "type": "message"}, created=0)


# --- streams --------------------------------------------------------------------------------------


def feed_all(events: list[tuple[str, JSON]]) -> tuple[StreamTranslator, list[JSON]]:
    translator = StreamTranslator(created=1700)
    chunks: list[JSON] = []
    for name, data in events:
        chunks.extend(translator.feed(name, {"type": name, **data}))
    return translator, chunks


def message_start(**usage: int) -> tuple[str, JSON]:
    message: JSON = {
        "id": "msg_9",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 1, **usage},
    }
    return "message_start", {"message": message}


def message_end(stop_reason: str, output_tokens: int) -> list[tuple[str, JSON]]:
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    return [("message_delta", {"delta": delta, "usage": {"output_tokens": output_tokens}}), ("message_stop", {})]


def test_a_text_stream_becomes_role_content_finish_and_usage_chunks() -> None:
    translator, chunks = feed_all(
        [
            message_start(),
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ("ping", {}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            ("content_block_stop", {"index": 0}),
            *message_end("end_turn", 2),
        ]
    )
    assert translator.done
    assert all(c["id"] == "chatcmpl-msg_9" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["created"] == 1700 and c["model"] == "claude-x" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, None, "stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 20
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_a_tool_use_stream_becomes_tool_call_chunks_with_argument_fragments() -> None:
    tool_block = {"type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {}}
    _, chunks = feed_all(
        [
            message_start(),
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Checking."}}),
            ("content_block_stop", {"index": 0}),
            ("content_block_start", {"index": 1, "content_block": tool_block}),
            ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}}),
            (
                "content_block_delta",
                {"index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'}},
            ),
            ("content_block_stop", {"index": 1}),
            *message_end("tool_use", 12),
        ]
    )
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[2] == {
        "tool_calls": [
            {"index": 0, "id": "toolu_7", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        ]
    }
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:] if "tool_calls" in d]
    assert fragments == ['{"ci', 'ty": "Paris"}']
    assert all(d["tool_calls"][0]["index"] == 0 for d in deltas[3:] if "tool_calls" in d)
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_uses_get_consecutive_tool_call_indexes() -> None:
    def tool(index: int, tool_id: str) -> list[tuple[str, JSON]]:
        block = {"type": "tool_use", "id": tool_id, "name": "f", "input": {}}
        delta = {"type": "input_json_delta", "partial_json": "{}"}
        return [
            ("content_block_start", {"index": index, "content_block": block}),
            ("content_block_delta", {"index": index, "delta": delta}),
        ]

    _, chunks = feed_all([message_start(), *tool(0, "a"), *tool(1, "b"), *message_end("tool_use", 3)])
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert [(call["index"], call.get("id")) for call in calls] == [(0, "a"), (0, None), (1, "b"), (1, None)]


def test_the_stream_usage_chunk_is_normalised_with_cache_counts() -> None:
    # message_start: 10 fresh, 500 read, 40 written; message_delta: 30 output tokens.
    _, chunks = feed_all(
        [
            message_start(input_tokens=10, cache_read_input_tokens=500, cache_creation_input_tokens=40),
            *message_end("end_turn", 30),
        ]
    )
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 550,
        "completion_tokens": 30,
        "total_tokens": 580,
        "prompt_tokens_details": {"cached_tokens": 500},
        "cache_creation_input_tokens": 40,
        "cache_read_input_tokens": 500,
    }


@pytest.mark.parametrize(("error_type", "status"), [("overloaded_error", 503), ("api_error", 502)])
def test_an_error_event_raises_an_upstream_status_error(error_type: str, status: int) -> None:
    translator = StreamTranslator(created=0)
    translator.feed(*message_start())
    with pytest.raises(UpstreamStatusError) as caught:
        translator.feed("error", {"type": "error", "error": {"type": error_type, "message": "Overloaded"}})
    assert caught.value.http_status == status
    assert caught.value.error_type == error_type
    assert caught.value.message == "Overloaded"
    assert not translator.done


def test_content_before_message_start_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        StreamTranslator(created=0).feed("content_block_stop", {"type": "content_block_stop", "index": 0})


def test_unknown_event_types_are_ignored() -> None:
    translator = StreamTranslator(created=0)
    translator.feed(*message_start())
    assert translator.feed("some_future_event", {"type": "some_future_event"}) == []
