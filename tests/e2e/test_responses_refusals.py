"""What ``/v1/responses`` refuses, through the official Python SDK: features this gateway does not
offer, malformed bodies and models outside the key's allow-list; each a clear 4xx naming the
parameter, changing nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.gateway_process import create_key
from tests.support.sim_gateway import SimGateway


@pytest.fixture
def alice(sim_gateway: SimGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim_gateway.url}/v1", api_key=sim_gateway.keys["alice"], max_retries=0)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"truncation": "auto"}, "truncation"),
        ({"input": ""}, "input"),
        ({"input": [{"role": "user", "content": "again"}] * 65}, "input"),  # the gateway's max_messages is 64
        ({"n": 2}, "n"),  # chat's, not the Responses API's
    ],
)
def test_unsupported_features_get_a_400_naming_the_parameter(
    alice: openai.OpenAI, sim_gateway: SimGateway, extra: dict[str, Any], param: str
) -> None:
    before = sim_gateway.state_digest()
    body = {"model": "sim-chat", "input": "hello", **extra}
    with pytest.raises(openai.BadRequestError) as refused:
        alice.post("/responses", body=body, cast_to=dict)
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == param and error["message"]
    assert sim_gateway.state_digest() == before


def test_a_model_outside_the_keys_allow_list_is_indistinguishable_from_no_model(
    shared_config: dict[str, Any], gateway_workdir: Path, gateway_url: str
) -> None:
    key = create_key(shared_config, gateway_workdir, "responses-allow-listed", "--models", "sim-chat")
    limited = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)

    def refusal(model: str) -> dict[str, Any]:
        with pytest.raises(openai.NotFoundError) as refused:
            limited.responses.create(model=model, input="hi")
        body = refused.value.body
        assert isinstance(body, dict)
        return {**body, "message": body["message"].replace(model, "<model>")}

    for existing in ("gpt-fake", "claude-fake", "embed-fake", "sim-image"):
        assert refusal(existing) == refusal("no-such-model")
    assert refusal("gpt-fake")["code"] == "model_not_found"


MALFORMED: list[dict[str, Any]] = [
    {"input": 7},
    {"input": ["hello"]},
    {"input": [{"role": "user", "content": 5}]},
    {"input": [{"role": "user", "content": ["text"]}]},
    {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
    {"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "x"}]}]},
    {"input": [{"type": "function_call_output", "call_id": "c", "output": 5}]},
    {"input": [{"type": "function_call_output", "output": "x"}]},
    {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {"a": 1}}]},
    {"tools": "lookup"},
    {"tools": ["lookup"]},
    {"tools": [{"type": "function", "name": "bad name!"}]},
    {"tool_choice": "sometimes"},
    {"tool_choice": {"type": "function"}},
    {"text": {"format": {"name": "x"}}},
    {"text": {"format": {"type": "yaml"}}},
    {"metadata": {"k": 1}},
    {"previous_response_id": 5},
    {"stream": "yes"},
    {"max_output_tokens": -1},
    {"temperature": 3},
    {"reasoning": {"effort": "maximal"}},
    {"model": None},
]


@pytest.mark.parametrize("extra", MALFORMED, ids=[json.dumps(body) for body in MALFORMED])
def test_a_malformed_request_is_a_400_that_changes_nothing(
    alice: openai.OpenAI, sim_gateway: SimGateway, extra: dict[str, Any]
) -> None:
    before = sim_gateway.state_digest()
    with pytest.raises(openai.BadRequestError) as refused:
        alice.post("/responses", body={"model": "sim-chat", "input": "hello", **extra}, cast_to=dict)
    error = refused.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error" and error["param"]
    assert sim_gateway.state_digest() == before
