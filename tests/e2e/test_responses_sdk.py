"""``/v1/responses`` through the official OpenAI Python SDK: create (plain and streamed), function
tools round trips, ``text.format``, the stored responses (retrieve, delete, input items, chaining)
and their isolation between customers, and usage metered once, as chat is."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import WORDS, FakeOpenAI
from tests.support.responses_stream import leave_after_two_words
from tests.support.sim_gateway import SimGateway, started_sim_gateway
from tests.support.usage_events import count_events, wait_for_event

DRAIN_WAIT = 30.0  # seconds for the journal drain to write a usage event, on a loaded machine
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


@pytest.fixture(scope="module")
def sim_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimGateway]:
    """A gateway of its own: the schema fuzzer's valid admin calls publish price books on the shared
    one, and these tests check what a response costs."""
    with started_sim_gateway(tmp_path_factory) as gateway:
        yield gateway


def _client(sim_gateway: SimGateway, customer: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim_gateway.url}/v1", api_key=sim_gateway.keys[customer], max_retries=0)


@pytest.fixture
def alice(sim_gateway: SimGateway) -> openai.OpenAI:
    return _client(sim_gateway, "alice")


@pytest.fixture
def bob(sim_gateway: SimGateway) -> openai.OpenAI:
    return _client(sim_gateway, "bob")


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


def _cost(usage: Any) -> Decimal:
    return Decimal(str(usage.model_extra["cost"]))


def test_a_plain_response_answers_text_and_is_metered_once(alice: openai.OpenAI, sim_gateway: SimGateway) -> None:
    raw = alice.responses.with_raw_response.create(model="sim-chat", input="Say hello to the lighthouse keeper")
    response = raw.parse()

    request_id = raw.headers["x-request-id"]
    assert response.id.startswith("resp_" + request_id.removeprefix("req_"))
    assert len(response.id) == len(request_id) + 1 + 16  # and 16 random hex digits
    assert (response.object, response.status, response.model) == ("response", "completed", "sim-chat")
    assert response.output_text and response.output[0].type == "message"
    assert response.output[0].content[0].type == "output_text"
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
    assert _cost(usage) == Decimal(raw.headers["x-tollgate-cost-usd"]) > 0
    event = wait_for_event(sim_gateway.workdir / "tollgate.db", request_id, DRAIN_WAIT)
    assert (event["input_tokens"], event["output_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert Decimal(event["cost_micros"]).scaleb(-6) == _cost(usage)
    assert count_events(sim_gateway.workdir / "tollgate.db", request_id) == 1


def test_a_streamed_response_sends_the_responses_events_in_order(alice: openai.OpenAI, sim_gateway: SimGateway) -> None:
    with alice.responses.stream(model="sim-chat", input="Tell me about tides", instructions="Be brief.") as stream:
        events = list(stream)
        final = stream.get_final_response()

    kinds = [event.type for event in events]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas) and deltas
    assert kinds[4 + len(deltas) :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == "".join(deltas) and final.status == "completed"
    assert final.instructions == "Be brief."
    assert final.usage is not None and _cost(final.usage) > 0
    stored = alice.responses.retrieve(final.id)
    assert stored.output_text == final.output_text and stored.usage == final.usage
    request_id = "req_" + final.id.removeprefix("resp_")[:-16]  # the response id adds 16 random digits
    event = wait_for_event(sim_gateway.workdir / "tollgate.db", request_id, DRAIN_WAIT)
    assert event["streamed"] and Decimal(event["cost_micros"]).scaleb(-6) == _cost(final.usage)
    assert count_events(sim_gateway.workdir / "tollgate.db", request_id) == 1


def test_create_with_stream_true_yields_the_same_events(alice: openai.OpenAI) -> None:
    events = list(alice.responses.create(model="sim-chat", input="Hi there", stream=True, store=False))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert events[-1].response.output_text == text  # type: ignore[union-attr]
    with pytest.raises(openai.NotFoundError):  # store: false keeps nothing
        alice.responses.retrieve(events[-1].response.id)  # type: ignore[union-attr]


def test_a_function_call_round_trip_with_function_call_output(alice: openai.OpenAI) -> None:
    first = alice.responses.create(model="sim-chat", input="Define lighthouse", tools=[LOOKUP], tool_choice="required")
    call = first.output[0]
    assert call.type == "function_call" and call.name == "lookup" and call.status == "completed"
    assert json.loads(call.arguments)["query"]

    chained = alice.responses.create(
        model="sim-chat",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"meaning": "a tower"}'}],
        tools=[LOOKUP],
    )
    assert chained.output_text and chained.previous_response_id == first.id

    stateless = alice.responses.create(
        model="sim-chat",
        store=False,
        input=[
            {"role": "user", "content": "Define lighthouse"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "a tower"},
        ],
        tools=[LOOKUP],
    )
    assert stateless.output_text


def test_a_streamed_function_call(alice: openai.OpenAI) -> None:
    with alice.responses.stream(
        model="sim-chat", input="Define harbour", tools=[LOOKUP], tool_choice={"type": "function", "name": "lookup"}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    call = final.output[0]
    assert call.type == "function_call" and call.name == "lookup" and json.loads(call.arguments)["query"]


def test_parameters_reach_the_upstream_in_their_chat_spelling(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    response = client.responses.create(
        model="gpt-fake",
        instructions="Answer in JSON.",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                ],
            },
            {"role": "user", "content": "Answer briefly. trigger:cached"},  # the fake reports cached tokens
        ],
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
        max_output_tokens=64,
        reasoning={"effort": "low"},
        temperature=0.3,
        top_p=0.9,
        user="end-user-7",
        metadata={"ticket": "T-1"},
        store=False,
    )
    sent = fake_openai[0].state.requests[-1]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert sent["messages"] == [
        {"role": "system", "content": "Answer in JSON."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
            ],
        },
        {"role": "user", "content": "Answer briefly. trigger:cached"},
    ]
    assert (sent["max_completion_tokens"], sent["reasoning_effort"], sent["user"]) == (64, "low", "end-user-7")
    assert (sent["temperature"], sent["top_p"], sent["model"]) == (0.3, 0.9, "gpt-upstream")
    assert "metadata" not in sent and "store" not in sent and "input" not in sent
    assert response.text is not None and response.text.format.type == "json_schema"
    assert response.metadata == {"ticket": "T-1"} and response.output_text == "".join(WORDS)
    usage = response.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (11, len(WORDS))
    assert usage.input_tokens_details.cached_tokens == 8 and usage.output_tokens_details.reasoning_tokens == 2


def test_a_stored_response_is_retrieved_listed_and_deleted(alice: openai.OpenAI) -> None:
    created = alice.responses.create(
        model="sim-chat",
        input=[
            {"role": "developer", "content": "Answer briefly."},
            {"role": "user", "content": "Name a river"},
            {"role": "user", "content": [{"type": "input_text", "text": "and a sea"}]},
        ],
        metadata={"run": "42"},
    )
    retrieved = alice.responses.retrieve(created.id)
    assert retrieved.model_dump() == created.model_dump()

    listed = alice.responses.input_items.list(created.id)
    texts = [item.content[0].text for item in listed.data]  # type: ignore[union-attr]
    assert texts == ["and a sea", "Name a river", "Answer briefly."]  # newest first, as OpenAI lists them
    ascending = alice.responses.input_items.list(created.id, order="asc", limit=1)
    assert [item.id for item in ascending] == [item.id for item in reversed(listed.data)]  # paged one by one

    alice.responses.delete(created.id)
    for attempt in (lambda: alice.responses.retrieve(created.id), lambda: alice.responses.delete(created.id)):
        with pytest.raises(openai.NotFoundError):
            attempt()


def test_previous_response_id_carries_the_conversation(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    first = client.responses.create(model="gpt-fake", input="My name is Ada.", instructions="Be kind.")
    second = client.responses.create(model="gpt-fake", previous_response_id=first.id, input="What is my name?")
    answer = "".join(WORDS)
    assert fake_openai[0].state.requests[-1]["messages"] == [
        {"role": "user", "content": "My name is Ada."},  # instructions are not carried, as at OpenAI
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "What is my name?"},
    ]
    client.responses.delete(first.id)  # the chain survives the deletion of its start
    client.responses.create(model="gpt-fake", previous_response_id=second.id, input="And again?")
    assert [m["content"] for m in fake_openai[0].state.requests[-1]["messages"]] == [
        "My name is Ada.",
        answer,
        "What is my name?",
        answer,
        "And again?",
    ]
    items = client.responses.input_items.list(second.id, order="asc")
    assert [item.type for item in items.data] == ["message", "message", "message"]


def test_a_customer_never_reads_or_chains_another_customers_response(alice: openai.OpenAI, bob: openai.OpenAI) -> None:
    mine = alice.responses.create(model="sim-chat", input="A secret about the harbour")
    unknown = "resp_" + "0" * 22
    attempts: list[Callable[[str], object]] = [
        bob.responses.retrieve,
        bob.responses.delete,
        bob.responses.input_items.list,
        lambda response_id: bob.responses.create(model="sim-chat", input="go on", previous_response_id=response_id),
    ]
    refusals = []
    for response_id in (mine.id, unknown):
        for attempt in attempts:
            with pytest.raises(openai.NotFoundError) as refused:
                attempt(response_id)
            body = refused.value.body
            assert isinstance(body, dict)
            refusals.append({**body, "message": body["message"].replace(response_id, "<id>")})
    assert refusals[:4] == refusals[4:]  # another customer's response reads exactly as an unknown one
    assert refusals[3]["param"] == "previous_response_id"
    assert alice.responses.retrieve(mine.id).output_text == mine.output_text


def test_a_deterministic_response_is_answered_from_the_exact_cache_as_chat_is(alice: openai.OpenAI) -> None:
    ask: dict[str, Any] = {"model": "sim-chat", "input": "Spell harbour backwards", "temperature": 0}
    first = alice.responses.with_raw_response.create(**ask)
    second = alice.responses.with_raw_response.create(**ask)
    assert (first.headers["x-tollgate-cache"], second.headers["x-tollgate-cache"]) == ("miss", "hit")
    assert second.parse().output_text == first.parse().output_text and second.parse().id != first.parse().id
    with alice.responses.stream(**ask) as stream:
        replayed = stream.get_final_response()
    assert replayed.output_text == first.parse().output_text
    assert alice.responses.retrieve(second.parse().id).output_text == first.parse().output_text


def test_a_tool_round_trip_with_anthropic_behind_the_translation(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="claude-fake", instructions="Use the tool.", input="Define quay", tools=[LOOKUP], tool_choice="required"
    )
    call = first.output[0]
    assert call.type == "function_call" and call.name == "lookup"
    with client.responses.stream(
        model="claude-fake",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "a landing place"}],
        tools=[LOOKUP],
    ) as stream:
        final = stream.get_final_response()
    assert "a landing place" in final.output_text  # the fake answers with the tool results it was given
    assert final.usage is not None and final.usage.input_tokens > 0 and _cost(final.usage) > 0


async def test_a_client_leaving_a_stream_is_billed_what_was_generated_once(
    gateway_url: str, api_key: str, gateway_workdir: Path
) -> None:
    request_id = await leave_after_two_words(gateway_url, api_key, "gpt-fake")
    database = gateway_workdir / "tollgate.db"
    event = await asyncio.to_thread(wait_for_event, database, request_id, DRAIN_WAIT)
    assert (event["outcome"], event["status"], event["output_tokens"]) == ("client_disconnect", 499, 2)
    assert count_events(database, request_id) == 1
    with sqlite3.connect(database) as db:  # never completed, so never stored
        prefix = "resp_" + request_id.removeprefix("req_") + "%"
        assert db.execute("SELECT count(*) FROM stored_responses WHERE id LIKE ?", (prefix,)).fetchone() == (0,)
