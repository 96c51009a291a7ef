"""The pure translation between OpenAI chat/embeddings and Gemini's generateContent wire format."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from backends.gemini_answers import (
    StreamTranslator,
    finish_reason,
    openai_usage,
    status_error,
    to_chat_completion,
)
from backends.gemini_wire import model_path, to_embed_request, to_generate_request
from gateway.core.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError

JSON = dict[str, Any]


def call(call_id: str, name: str, arguments: str = "{}") -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_roles_map_to_user_and_model_with_system_and_developer_as_the_instruction() -> None:
    request = to_generate_request(
        {
            "messages": [
                {"role": "system", "content": "rule one"},
                {"role": "developer", "content": [{"type": "text", "text": "rule two"}]},
                {"role": "user", "content": "hi"},
                {"role": "user", "content": [{"type": "text", "text": "again"}, {"type": "text", "text": ""}]},
                {"role": "assistant", "content": "hello"},
                {"role": "assistant", "content": None},
                {"role": "user", "content": "bye"},
            ]
        }
    )
    assert request == {
        "systemInstruction": {"parts": [{"text": "rule one"}, {"text": "rule two"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"text": "again"}]},  # merged; the empty text dropped
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "bye"}]},
        ],
    }


def test_parallel_tool_calls_are_answered_in_one_turn_by_name() -> None:
    signed = "call_a__thought__c2lnbmF0dXJl"
    request = to_generate_request(
        {
            "messages": [
                {"role": "user", "content": "weather and time?"},
                {"role": "assistant", "tool_calls": [call(signed, "weather", '{"city":"Paris"}'), call("b", "time")]},
                {"role": "tool", "tool_call_id": signed, "content": '{"temp": 18}'},
                {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "noon"}]},
            ]
        }
    )
    model, answers = request["contents"][1:]
    assert model == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnbmF0dXJl"},
            {"functionCall": {"name": "time", "args": {}}},
        ],
    }
    assert answers == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"temp": 18}}},  # a JSON object goes as it is
            {"functionResponse": {"name": "time", "response": {"output": "noon"}}},
        ],
    }


def test_generation_parameters_go_to_generation_config() -> None:
    request = to_generate_request(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completion_tokens": 40,
            "max_tokens": 10,
            "stop": "END",
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "response_format": {"type": "json_object"},
            "reasoning_effort": "medium",
            "user": "u-1",
            "stream_options": {"include_usage": True},
        }
    )
    assert request["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "maxOutputTokens": 40,
        "candidateCount": 2,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 8192},
    }
    assert set(request) == {"contents", "generationConfig"}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice_becomes_the_function_calling_mode(choice: Any, config: JSON) -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "does f"}}
    request = to_generate_request(
        {"messages": [{"role": "user", "content": "x"}], "tools": [tool], "tool_choice": choice}
    )
    assert request["tools"] == [{"functionDeclarations": [{"name": "f", "description": "does f"}]}]
    assert request["toolConfig"] == {"functionCallingConfig": config}


def test_audio_goes_inline() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    request = to_generate_request({"messages": [{"role": "user", "content": [audio]}]})
    assert request["contents"][0]["parts"] == [{"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "only rules"}]}, "messages"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "tool", "tool_call_id": "nobody", "content": "x"}]}, "messages"),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a"}}]}]},
            "messages",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png,xyz"}]}]},
            "messages",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,%%"}]}
                ]
            },
            "messages",
        ),
        ({"messages": [{"role": "assistant", "tool_calls": [call("a", "f", "[1]")]}]}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs"),
        ({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}, "reasoning_effort"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "always"}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "code_interpreter"}]}, "tools"),
        (
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}},
            "response_format",
        ),
    ],
)
def test_what_gemini_cannot_take_is_a_400_naming_the_parameter(body: JSON, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_generate_request(body)
    assert caught.value.param == param


def test_the_model_name_loses_its_resource_prefix() -> None:
    assert model_path("models/gemini-2.5-flash") == "gemini-2.5-flash"
    with pytest.raises(InvalidRequest):
        model_path("")


def test_embedding_requests_name_the_model_in_each_request() -> None:
    texts, request = to_embed_request({"input": "hello", "dimensions": 3}, "text-embedding-004")
    assert texts == ["hello"]
    assert request == {
        "requests": [
            {"model": "models/text-embedding-004", "outputDimensionality": 3, "content": {"parts": [{"text": "hello"}]}}
        ]
    }
    with pytest.raises(InvalidRequest):
        to_embed_request({"input": [[1, 2]]}, "m")


def test_usage_counts_thoughts_as_reasoning_inside_completion_and_cache_inside_prompt() -> None:
    usage = openai_usage(
        {
            "promptTokenCount": 100,
            "cachedContentTokenCount": 60,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "toolUsePromptTokenCount": 5,
            "totalTokenCount": 155,
        }
    )
    assert usage == {
        "prompt_tokens": 105,
        "completion_tokens": 50,
        "total_tokens": 155,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert openai_usage(None)["total_tokens"] == 0


@pytest.mark.parametrize(
    ("reason", "called", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
        (None, False, "stop"),
    ],
)
def test_finish_reasons(reason: Any, called: bool, expected: str) -> None:
    assert finish_reason(reason, called=called) == expected


def test_an_answer_leaves_thoughts_out_and_gives_each_call_an_id() -> None:
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "pondering", "thought": True},
                        {"text": "Let me check."},
                        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "U0lH"},
                        {"functionCall": {"name": "f", "args": {"a": 2}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "abc",
    }
    completion = to_chat_completion(answer, model="m", created=1)
    message = completion["choices"][0]["message"]
    assert (completion["id"], completion["model"]) == ("chatcmpl-abc", "gemini-2.5-flash-001")
    assert message["content"] == "Let me check."
    first, second = message["tool_calls"]
    assert first["id"].endswith("__thought__U0lH") and "__thought__" not in second["id"]
    assert first["id"] != second["id"]
    assert msgspec.json.decode(second["function"]["arguments"]) == {"a": 2}
    assert completion["choices"][0]["finish_reason"] == "tool_calls"


def test_an_answer_without_candidates_is_a_protocol_error_unless_the_prompt_was_blocked() -> None:
    with pytest.raises(UpstreamProtocolError):
        to_chat_completion({"usageMetadata": {}}, model="m", created=1)
    with pytest.raises(UpstreamStatusError) as caught:
        to_chat_completion({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, model="m", created=1)
    assert caught.value.http_status == 400 and "PROHIBITED_CONTENT" in caught.value.message


def error_body(code: int, status: str, message: str, details: list[JSON] | None = None) -> bytes:
    error: JSON = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return msgspec.json.encode({"error": error})


def test_a_rate_limit_takes_its_retry_after_from_retry_info() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.4s"}
    error = status_error(429, {}, error_body(429, "RESOURCE_EXHAUSTED", "quota", [retry]))
    assert (error.http_status, error.error_type, error.code) == (429, "rate_limit_error", "resource_exhausted")
    assert error.headers == {"retry-after": "13"}
    kept = status_error(429, {"retry-after": "3"}, error_body(429, "RESOURCE_EXHAUSTED", "quota", [retry]))
    assert kept.headers == {"retry-after": "3"}


@pytest.mark.parametrize(
    ("status", "grpc", "shown", "error_type"),
    [
        (400, "INVALID_ARGUMENT", 400, "invalid_request_error"),
        (400, "FAILED_PRECONDITION", 400, "invalid_request_error"),
        (403, "PERMISSION_DENIED", 502, "upstream_error"),
        (404, "NOT_FOUND", 404, "invalid_request_error"),
        (500, "INTERNAL", 500, "server_error"),
        (503, "UNAVAILABLE", 503, "server_error"),
        (504, "DEADLINE_EXCEEDED", 504, "timeout"),
    ],
)
def test_gemini_statuses_map_onto_the_error_tree(status: int, grpc: str, shown: int, error_type: str) -> None:
    error = status_error(status, {}, error_body(status, grpc, "words"))
    assert (error.http_status, error.error_type) == (shown, error_type)


def test_an_invalid_api_key_is_the_operators_credential_failing() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    error = status_error(400, {}, error_body(400, "INVALID_ARGUMENT", "API key not valid.", [info]))
    assert (error.http_status, error.code, error.upstream_status) == (502, "upstream_auth_failed", 401)


def test_an_error_body_that_is_not_json_keeps_its_words() -> None:
    error = status_error(502, {}, b"<html>Bad Gateway</html>")
    assert error.http_status == 502 and "Bad Gateway" in error.message


def stream_event(parts: list[JSON], finish: str | None = None, index: int = 0, **usage: int) -> JSON:
    candidate: JSON = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage, "responseId": "r1", "modelVersion": "g-001"}


def test_a_stream_translates_events_and_ends_with_the_last_usage() -> None:
    translator = StreamTranslator(model="m", created=1)
    chunks = translator.feed(stream_event([{"text": "Hel"}], promptTokenCount=3))
    chunks += translator.feed(stream_event([{"text": "lo"}], "STOP", promptTokenCount=3, candidatesTokenCount=2))
    chunks += translator.finish()
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}, {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert {c["id"] for c in chunks} == {"chatcmpl-r1"} and chunks[0]["model"] == "g-001"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 5


def test_streamed_calls_are_numbered_per_candidate() -> None:
    translator = StreamTranslator(model="m", created=1)
    translator.feed(stream_event([{"functionCall": {"name": "a", "args": {}}}]))
    [call_chunk, finish] = translator.feed(stream_event([{"functionCall": {"name": "b", "args": {}}}], "STOP"))
    assert call_chunk["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    other = translator.feed(stream_event([{"text": "x"}], "STOP", index=1))
    assert [c["choices"][0]["index"] for c in other] == [1, 1, 1]
    assert translator.finish()[0]["choices"] == []


def test_a_stream_cut_before_every_candidate_finished_is_a_protocol_error() -> None:
    translator = StreamTranslator(model="m", created=1)
    translator.feed(stream_event([{"text": "a"}], "STOP"))
    translator.feed(stream_event([{"text": "b"}], index=1))
    with pytest.raises(UpstreamProtocolError):
        translator.finish()
    with pytest.raises(UpstreamProtocolError):
        StreamTranslator(model="m", created=1).finish()


def test_an_error_event_raises_with_its_own_code() -> None:
    translator = StreamTranslator(model="m", created=1)
    with pytest.raises(UpstreamStatusError) as caught:
        translator.feed({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}})
    assert caught.value.http_status == 500
    with pytest.raises(UpstreamStatusError) as unknown:
        translator.feed({"error": {"message": "odd"}})
    assert unknown.value.http_status == 502
