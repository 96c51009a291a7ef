"""The pipeline, in process around a fake backend: every request that reaches an upstream leaves one
usage event (answered, failed or abandoned), priced from the price book, counted once, and its
reservation settled with what it used."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from backends.base import Operation
from gateway.core.errors import ModelNotFound, UpstreamStatusError
from gateway.generation.pipeline import Call
from tests.unit.pipeline_kit import FakeBackend, answer, build, chunk, principal, usage_chunk

FULL_MICROS = 1000 * 2 + 500 * 8  # USAGE at BOOK's prices


async def test_an_answer_is_metered_once_priced_from_the_price_book_and_settled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    done = await kit.pipeline.complete(principal(), kit.call())
    assert (done.deployment, done.cost_micros, done.body["usage"]["cost"]) == ("sim", FULL_MICROS, Decimal("0.006"))
    assert kit.backend.sent[0]["model"] == "up"  # the upstream's own name for the model
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.cost_micros) == ("ok", 200, "sim", FULL_MICROS)
    assert (record.input_tokens, record.output_tokens, record.price_book_version) == (1000, 500, 7)
    assert await kit.settled() == [(1500, FULL_MICROS, False)]
    assert kit.holding == 0


async def test_an_answer_without_usage_is_counted_from_its_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend(body=answer(usage=None)))
    done = await kit.pipeline.complete(principal(), kit.call())
    completion = kit.tokens.count("Hello there")
    [record] = kit.records
    assert (record.input_tokens, record.output_tokens) == (kit.prompt_tokens, completion)
    assert done.cost_micros == record.cost_micros == kit.prompt_tokens * 2 + completion * 8
    assert done.body["usage"]["total_tokens"] == kit.prompt_tokens + completion


async def test_an_upstream_error_is_recorded_at_no_cost_and_the_reservation_given_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    refused = UpstreamStatusError("no such thing", upstream_status=400)
    kit = build(monkeypatch, tmp_path, FakeBackend(error=refused))
    with pytest.raises(UpstreamStatusError):
        await kit.pipeline.complete(principal(), kit.call())
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.cost_micros) == ("upstream_error", 400, "sim", 0)
    assert await kit.settled() == [(0, 0, True)]
    assert kit.holding == 0


async def test_a_client_that_leaves_while_the_upstream_works_is_billed_its_prompt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend(hold=asyncio.Event()))
    request = asyncio.create_task(kit.pipeline.complete(principal(), kit.call()))
    while not kit.backend.sent:
        await asyncio.sleep(0)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment) == ("client_disconnect", 499, "sim")
    assert (record.input_tokens, record.output_tokens) == (kit.prompt_tokens, 0)
    assert record.cost_micros == kit.prompt_tokens * 2
    assert await kit.settled() == [(kit.prompt_tokens, kit.prompt_tokens * 2, False)]
    assert kit.holding == 0


async def test_a_client_that_leaves_while_its_embeddings_wait_for_their_batch_is_billed_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    raw = {"model": "vectors", "input": "a vector, please"}
    call = Call("req_e", Operation.EMBEDDINGS, "vectors", raw, False, False, time.perf_counter())
    request = asyncio.create_task(kit.pipeline.complete(principal(), call))
    await asyncio.sleep(0.05)  # in the batch, which waits up to a second for company
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment) == ("client_disconnect", 499, None)
    assert (record.input_tokens, record.cost_micros) == (0, 0)
    assert kit.backend.sent == []  # and it never will be: the batch leaves it out
    assert kit.holding == 0


async def test_a_request_refused_before_it_is_sent_is_not_metered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    with pytest.raises(ModelNotFound):
        await kit.pipeline.complete(principal(allowed_models=frozenset({"other"})), kit.call())
    assert kit.records == [] and kit.backend.sent == [] and await kit.settled() == []


async def test_a_stream_is_metered_once_with_the_upstreams_usage_and_the_client_told_its_cost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chunks = [chunk("Hello"), chunk(" there", "stop"), usage_chunk()]
    kit = build(monkeypatch, tmp_path, FakeBackend(chunks=chunks))
    streaming = await kit.pipeline.stream(principal(), kit.call(stream=True))
    events = [event async for event in streaming.relay]
    assert events[-1] == b"data: [DONE]\n\n"
    assert json.loads(events[-2].removeprefix(b"data: "))["usage"] == {**chunks[2]["usage"], "cost": 0.006}
    assert kit.backend.sent[0]["stream_options"] == {"include_usage": True}
    [record] = kit.records
    assert (record.outcome, record.streamed, record.cost_micros, record.output_tokens) == ("ok", True, FULL_MICROS, 500)
    assert await kit.settled() == [(1500, FULL_MICROS, False)]
    assert kit.holding == 0


async def test_a_stream_the_upstream_breaks_ends_with_an_error_event_and_costs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = UpstreamStatusError("went away", upstream_status=502)
    kit = build(
        monkeypatch, tmp_path, FakeBackend(chunks=[chunk("Hello"), chunk(" there")], error=broken, fail_after=1)
    )
    streaming = await kit.pipeline.stream(principal(), kit.call(stream=True))
    events = [event async for event in streaming.relay]
    assert b"[DONE]" not in events[-1] and json.loads(events[-1].removeprefix(b"data: "))["error"]
    [record] = kit.records
    assert (record.outcome, record.status, record.cost_micros) == ("upstream_error", 502, 0)
    assert await kit.settled() == [(0, 0, True)]
    assert kit.backend.closed and kit.holding == 0


async def test_a_stream_the_client_leaves_bills_what_was_generated_and_closes_the_upstream(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chunks = [chunk("Hello"), chunk(" there"), chunk(" and more", "stop"), usage_chunk()]
    kit = build(monkeypatch, tmp_path, FakeBackend(chunks=chunks))
    streaming = await kit.pipeline.stream(principal(), kit.call(stream=True, wants_usage=False))
    events = aiter(streaming.relay)
    assert b"Hello" in await anext(events)
    await events.aclose()  # type: ignore[attr-defined]  # the client left after the first event
    [record] = kit.records
    generated = kit.tokens.count("Hello")
    assert (record.outcome, record.status) == ("client_disconnect", 499)
    assert (record.input_tokens, record.output_tokens) == (kit.prompt_tokens, generated)
    assert record.cost_micros == kit.prompt_tokens * 2 + generated * 8
    assert await kit.settled() == [(kit.prompt_tokens + generated, record.cost_micros, False)]
    assert kit.backend.closed and kit.holding == 0
