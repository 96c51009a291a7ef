"""The OpenAI SDK talking to a Claude model through Tollgate: the translation is invisible."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.support.usage_events import wait_for_event


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


def test_chat_with_system_prompt(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude-fake",
        messages=[{"role": "system", "content": "be terse"}, {"role": "user", "content": "hello there"}],
        max_tokens=50,
    )
    completion = raw.parse()
    assert raw.headers["x-tollgate-backend"] == "fake-anthropic"
    assert completion.model == "claude-fake" and completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "echo: hello there"
    sent = fake_anthropic.requests[-1].body
    assert sent["system"] == "be terse" and sent["max_tokens"] == 50
    assert sent["messages"] == [{"role": "user", "content": "hello there"}]
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="claude-fake",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_tool_call_round_trip(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    first = client.chat.completions.create(
        model="claude-fake",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice="required",
    )
    call = (first.choices[0].message.tool_calls or [])[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    second = client.chat.completions.create(
        model="claude-fake",
        tools=tools,
        messages=[  # type: ignore[arg-type]
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
    )
    assert "sunny, 21C" in (second.choices[0].message.content or "")


def test_overload_and_rate_limit_surface_as_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as overloaded:
        client.chat.completions.create(model="claude-fake", messages=[{"role": "user", "content": "[[overloaded]]"}])
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="claude-fake", messages=[{"role": "user", "content": "[[rate_limit]]"}])
    assert limited.value.response.headers["retry-after"] == "7"


def test_n_above_one_is_refused_with_the_parameter_named(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-fake", messages=[{"role": "user", "content": "x"}], n=2)
    assert caught.value.param == "n"


def test_prompt_cache_writes_and_reads_are_billed_at_their_own_prices(
    client: openai.OpenAI, gateway_workdir: Any
) -> None:
    long_context = "policy " * 40
    messages = [
        {"role": "system", "content": [{"type": "text", "text": long_context, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "question one"},
    ]
    first = client.chat.completions.with_raw_response.create(model="claude-fake", messages=messages)  # type: ignore[arg-type]
    second = client.chat.completions.with_raw_response.create(model="claude-fake", messages=messages)  # type: ignore[arg-type]
    written = wait_for_event(gateway_workdir / "tollgate.db", first.headers["x-request-id"])
    read = wait_for_event(gateway_workdir / "tollgate.db", second.headers["x-request-id"])
    # The fake counts one token per word: the 40-word system block is written once, then read.
    assert (written["cache_write_tokens"], written["cached_input_tokens"]) == (40, 0)
    assert (read["cache_write_tokens"], read["cached_input_tokens"]) == (0, 40)
    assert written["input_tokens"] == read["input_tokens"] == 2  # "question one"
    assert written["output_tokens"] == 3  # "echo: question one"
    # $/M: 2 × 3 + 40 × 3.75 + 3 × 15 = 6 + 150 + 45 = 201; then 2 × 3 + 40 × 0.30 + 3 × 15 = 6 + 12 + 45 = 63
    assert (written["cost_micros"], read["cost_micros"]) == (201, 63)
    assert first.headers["x-tollgate-cost-usd"] == "0.000201" and second.headers["x-tollgate-cost-usd"] == "0.000063"
