"""The OpenAI <-> Bedrock Converse translation, without I/O (backends/bedrock_wire.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backends.bedrock_wire import (
    bedrock_error,
    error_name,
    exception_name,
    finish_reason,
    openai_usage,
    stream_exception,
    to_chat_completion,
    to_converse_request,
)
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from tests.fakes.bedrock_schema import validate

JSON = dict[str, Any]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def converse(**body: Any) -> JSON:
    """The translated request, also checked against Bedrock Runtime's own schema."""
    request = to_converse_request({"model": "m", **body})
    validate("Converse", request)
    return request


def test_system_messages_go_to_system_and_turns_become_content_blocks() -> None:
    request = converse(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No jokes."}]},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "again"}, {"type": "text", "text": ""}]},
        ]
    )
    assert request["system"] == [{"text": "Be brief."}, {"text": "No jokes."}]
    assert request["messages"] == [
        {"role": "user", "content": [{"text": "hello"}]},
        {"role": "assistant", "content": [{"text": "hi"}]},
        {"role": "user", "content": [{"text": "again"}]},
    ]
    assert "model" not in request  # the model id travels in the URL


def test_sampling_parameters_become_the_inference_config() -> None:
    request = converse(
        messages=[{"role": "user", "content": "x"}], max_tokens=50, temperature=0.2, top_p=0.9, stop="END"
    )
    assert request["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    newer = converse(messages=[{"role": "user", "content": "x"}], max_tokens=50, max_completion_tokens=20, seed=3)
    assert newer["inferenceConfig"] == {"maxTokens": 20}


def test_a_base64_image_is_sent_as_bytes_with_its_format() -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    request = converse(messages=[{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}])
    assert request["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": PNG}}}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com/cat.png", "base64 data URLs only"),
        ("data:image/tiff;base64,AAAA", "not one of png, jpeg, gif, webp"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/png,raw", "must be base64"),
    ],
)
def test_images_bedrock_cannot_take_are_refused_with_a_400(url: str, problem: str) -> None:
    image = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(InvalidRequest) as caught:
        to_converse_request({"model": "m", "messages": [{"role": "user", "content": [image]}]})
    assert problem in caught.value.message and caught.value.param == "messages"


def test_tools_become_tool_specs_and_tool_choice_maps_to_converse() -> None:
    messages = [{"role": "user", "content": "weather?"}]
    request = converse(messages=messages, tools=[WEATHER], tool_choice="required")
    assert request["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},  # type: ignore[index]
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert converse(messages=messages, tools=[WEATHER], tool_choice=named)["toolConfig"]["toolChoice"] == {
        "tool": {"name": "get_weather"}
    }
    assert "toolChoice" not in converse(messages=messages, tools=[WEATHER])["toolConfig"]
    assert "toolConfig" not in converse(messages=messages, tools=[WEATHER], tool_choice="none")


def test_tool_calls_and_their_results_become_tool_use_and_tool_result_blocks() -> None:
    call = {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    request = converse(
        tools=[WEATHER],
        tool_choice="none",  # a conversation holding tool blocks keeps its toolConfig: Converse requires it
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "sunny"},
            {"role": "user", "content": "thanks"},
        ],
    )
    assert request["messages"][1] == {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}],
    }
    # The tool result and the next user message are one user turn: Converse wants roles to alternate.
    assert request["messages"][2] == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}}, {"text": "thanks"}],
    }
    assert "toolChoice" not in request["toolConfig"]


def test_cache_control_marks_become_cache_points() -> None:
    rules = {"type": "text", "text": "long rules", "cache_control": {"type": "ephemeral"}}
    request = converse(messages=[{"role": "system", "content": [rules]}, {"role": "user", "content": "q"}])
    assert request["system"] == [{"text": "long rules"}, {"cachePoint": {"type": "default"}}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": [""]}, "stop"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages"),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{"}}]}
                ]
            },
            "messages",
        ),
    ],
)
def test_what_converse_cannot_do_is_a_400_naming_the_parameter(body: JSON, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_converse_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **body})
    assert caught.value.param == param


def test_an_answer_becomes_a_chat_completion_with_tool_calls_and_usage() -> None:
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Let me look."},
                    {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                    {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather", "input": {"city": "Oslo"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": 10,
            "outputTokens": 5,
            "totalTokens": 45,
            "cacheReadInputTokens": 20,
            "cacheWriteInputTokens": 10,
        },
        "metrics": {"latencyMs": 300},
    }
    completion = to_chat_completion(answer, completion_id="chatcmpl-r1", model="anthropic.x", created=7)
    message = completion["choices"][0]["message"]
    assert message["content"] == "Let me look."
    assert message["tool_calls"] == [
        {"id": "tooluse_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    ]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert (completion["id"], completion["model"], completion["created"]) == ("chatcmpl-r1", "anthropic.x", 7)
    assert completion["usage"]["prompt_tokens"] == 40  # 10 fresh + 20 read + 10 written
    assert completion["usage"]["total_tokens"] == 45
    assert completion["usage"]["prompt_tokens_details"] == {"cached_tokens": 20}
    assert completion["usage"]["cache_creation_input_tokens"] == 10


def test_an_answer_without_content_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        to_chat_completion({"output": {}}, completion_id="c", model="m", created=0)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reasons_map_to_openai_finish_reasons(stop_reason: Any, finish: str) -> None:
    assert finish_reason(stop_reason) == finish


def test_usage_without_cache_counts() -> None:
    assert openai_usage({"inputTokens": 3, "outputTokens": 4, "totalTokens": 7})["prompt_tokens"] == 3


@pytest.mark.parametrize(
    "raw",
    [
        "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "com.amazon.coral.validate#ValidationException",
        "validationException",
        "ValidationException",
    ],
)
def test_the_exception_name_is_read_from_every_spelling_aws_uses(raw: str) -> None:
    assert exception_name(raw) == "ValidationException"


def test_the_error_name_comes_from_the_header_else_the_body() -> None:
    assert error_name({"X-Amzn-ErrorType": "ThrottlingException:http://x/"}, b"{}") == "ThrottlingException"
    assert error_name({}, json.dumps({"__type": "a.b#AccessDeniedException", "message": "no"}).encode()) == (
        "AccessDeniedException"
    )
    assert error_name({}, b"<html>") is None


@pytest.mark.parametrize(
    ("name", "status", "error_type"),
    [
        ("ThrottlingException", 429, "rate_limit_error"),
        ("ValidationException", 400, "invalid_request_error"),
        ("AccessDeniedException", 502, "upstream_error"),  # the operator's credentials: never the client's
        ("ResourceNotFoundException", 502, "upstream_error"),
        ("ModelTimeoutException", 504, "timeout_error"),
        ("ServiceUnavailableException", 503, "server_error"),
        ("InternalServerException", 502, "server_error"),
        ("ModelNotReadyException", 503, "server_error"),
    ],
)
def test_bedrock_exceptions_map_to_the_statuses_clients_know(name: str, status: int, error_type: str) -> None:
    base = UpstreamStatusError("what AWS said", upstream_status=400)
    error = bedrock_error(base, name)
    assert (error.http_status, error.error_type) == (status, error_type)
    assert error.detail == "what AWS said"


def test_a_throttle_advises_a_retry_after_and_a_long_input_is_a_context_overflow() -> None:
    throttled = bedrock_error(UpstreamStatusError("slow down", upstream_status=429), "ThrottlingException")
    assert throttled.headers == {"retry-after": "1"}
    too_long = bedrock_error(
        UpstreamStatusError("Input is too long for requested model.", upstream_status=400), "ValidationException"
    )
    assert too_long.code == "context_length_exceeded"


def test_an_exception_event_mid_stream_is_mapped_like_an_http_error() -> None:
    error = stream_exception("ThrottlingException", b'{"message": "Too many tokens"}')
    assert (error.http_status, error.error_type, error.message) == (429, "rate_limit_error", "Too many tokens")
    assert stream_exception(None, b"garbage").http_status == 502
