"""The OpenAI SDK talking to a Gemini model through Tollgate: the translation is invisible, and the
usage Gemini reports (cached prompt tokens, thinking tokens) is priced at its own rates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes import gemini_server
from tests.fakes.gemini_server import IMAGE_TOKENS, IMPLICIT_CACHE_MIN, FakeGemini
from tests.fakes.threaded import serve_in_thread
from tests.support.backend_harness import PNG_PIXEL, WEATHER_TOOL
from tests.support.fake_gateway import FakeGateway, gateway_on_fake
from tests.support.usage_events import wait_for_event

# $/M tokens, so micro-dollars per token: input 2, cached input 0.5, output 10, thinking 20.
PRICES = {"input_per_mtok": "2", "cached_input_per_mtok": "0.5", "output_per_mtok": "10", "reasoning_per_mtok": "20"}


Gateway = FakeGateway[FakeGemini]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("gemini")
    fake = FakeGemini()
    with serve_in_thread(gemini_server.build_app(fake)) as url:
        base = {"type": "gemini", "base_url": f"{url}/v1beta"}
        config = {
            "backends": {
                "gemini": {**base, "api_key": gemini_server.API_KEY},
                "gemini-badkey": {**base, "api_key": "no"},
            },
            "models": [
                {
                    "name": "gemini",
                    "deployments": [{"backend": "gemini", "model": gemini_server.MODEL}],
                    "pricing": PRICES,
                },
                {"name": "gemini-badkey", "deployments": [{"backend": "gemini-badkey", "model": gemini_server.MODEL}]},
            ],
        }
        with gateway_on_fake(fake, config, workdir, "gemini-user") as gateway:
            yield gateway


def test_a_chat_with_a_system_prompt(gateway: Gateway) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="gemini",
        messages=[{"role": "system", "content": "be terse"}, {"role": "user", "content": "hello there"}],
        max_tokens=50,
        temperature=0.3,
    )
    completion = raw.parse()
    assert raw.headers["x-tollgate-backend"] == "gemini"
    assert completion.model == "gemini" and completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "echo: hello there"
    sent = gateway.fake.requests[-1]
    assert sent.path == f"/v1beta/models/{gemini_server.MODEL}:generateContent"
    assert sent.body["systemInstruction"] == {"parts": [{"text": "be terse"}]}
    assert sent.body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 50}


def test_a_stream_ends_with_usage_and_its_cost(gateway: Gateway) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="gemini",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (3, 4)
    assert (usage.model_extra or {})["cost"] == (3 * 2 + 4 * 10) / 1e6
    event = wait_for_event(gateway.database, raw.headers["x-request-id"])
    assert (event["input_tokens"], event["output_tokens"], event["cost_micros"]) == (3, 4, 46)


def test_a_streamed_tool_call_and_its_result_round_trip(gateway: Gateway) -> None:
    question = [{"role": "user", "content": "weather in Paris?"}]
    chunks = list(
        gateway.client.chat.completions.create(
            model="gemini",
            messages=question,  # type: ignore[arg-type]
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice="required",
            stream=True,
        )
    )
    [delta] = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    call = (delta.tool_calls or [])[0]
    assert call.function is not None and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments or "") == {"city": "sample"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assistant = {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude={"index"})]}
    answer = gateway.client.chat.completions.create(
        model="gemini",
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[*question, assistant, {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}],  # type: ignore[list-item]
    )
    assert answer.choices[0].message.content == "tool said: sunny, 21C"
    model_turn = gateway.fake.requests[-1].body["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] in gateway.fake.signatures


def test_an_image_is_sent_inline_and_counted(gateway: Gateway) -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_PIXEL}"}},
    ]
    completion = gateway.client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
    )
    assert completion.usage is not None and completion.usage.prompt_tokens == 3 + IMAGE_TOKENS
    parts = gateway.fake.requests[-1].body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG_PIXEL}}


def test_cached_and_thinking_tokens_are_billed_at_their_own_prices(gateway: Gateway) -> None:
    rules = "rule " * IMPLICIT_CACHE_MIN

    def ask(question: str) -> dict[str, Any]:
        raw = gateway.client.chat.completions.with_raw_response.create(
            model="gemini",
            messages=[{"role": "system", "content": rules}, {"role": "user", "content": f"[[think]] {question}"}],
        )
        completion = raw.parse()
        assert completion.choices[0].message.content == f"echo: [[think]] {question}"  # no thought text
        assert completion.usage is not None and completion.usage.completion_tokens_details is not None
        assert completion.usage.completion_tokens_details.reasoning_tokens == 5
        return wait_for_event(gateway.database, raw.headers["x-request-id"])

    first, second = ask("why"), ask("how")
    assert (first["input_tokens"], first["cached_input_tokens"]) == (IMPLICIT_CACHE_MIN + 2, 0)
    assert (second["input_tokens"], second["cached_input_tokens"]) == (2, IMPLICIT_CACHE_MIN)
    assert (first["output_tokens"], first["reasoning_tokens"]) == (3, 5)
    # 1,026 × 2 + 3 × 10 + 5 × 20 = 2,182; then 2 × 2 + 1,024 × 0.5 + 30 + 100 = 646
    assert (first["cost_micros"], second["cost_micros"]) == (2182, 646)


def test_a_json_schema_answer(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    completion = gateway.client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "a number"}],
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema, "strict": True}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"n": 1}


def test_refusals_and_failures_are_openai_errors(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as unsupported:
        gateway.client.chat.completions.create(
            model="gemini", messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert unsupported.value.param == "logprobs"
    with pytest.raises(openai.BadRequestError) as blocked:
        gateway.client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "[[blocked]]"}])
    assert blocked.value.code == "content_filter"
    with pytest.raises(openai.RateLimitError) as limited:
        gateway.client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "[[rate_limit]]"}])
    assert limited.value.response.headers["retry-after"] == gemini_server.RETRY_AFTER
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.client.chat.completions.create(model="gemini-badkey", messages=[{"role": "user", "content": "x"}])
    assert (refused.value.status_code, refused.value.code) == (502, "upstream_auth_failed")
    assert "API key" not in refused.value.message
