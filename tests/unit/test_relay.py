"""The stream relay meters a stream once, counting it once, and what an upstream answer must look like."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from backends.base import JSON, Operation
from backends.shape import check_answer, check_chunk
from gateway.core.errors import UpstreamInvalidResponse
from gateway.metering.answers import counted_usage
from gateway.metering.meter import Charge
from gateway.metering.usage import normalise
from gateway.routing.catalog import Route
from gateway.routing.relay import StreamRelay
from gateway.tokens import Tokenizer


class CountingTokenizer:
    """The real tokenizer, counting how often it is asked."""

    def __init__(self) -> None:
        self._tokens = Tokenizer()
        self.passes = 0

    def count(self, text: str) -> int:
        self.passes += 1
        return self._tokens.count(text)

    def count_chat(self, messages: Sequence[JSON]) -> int:
        self.passes += 1
        return self._tokens.count_chat(messages)


def chunk(content: str, finish: str | None = None) -> JSON:
    delta = {"content": content}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def upstream(chunks: list[JSON]) -> AsyncIterator[JSON]:
    for item in chunks:
        yield item


def relay_of(
    chunks: list[JSON],
    tokens: CountingTokenizer,
    finished: list[tuple[Any, ...]],
    *,
    wants_usage: bool,
    rest: AsyncIterator[JSON] | None = None,
) -> StreamRelay:
    """A relay of ``chunks`` (the first already received), or of ``chunks[0]`` then ``rest``."""

    def finish(status: int, outcome: str, usage: JSON | None, ttft: float | None) -> Charge:
        finished.append((status, outcome, usage))
        return Charge(normalise(usage), 42)

    route = Route("public", "deployment", "up", None)  # type: ignore[arg-type]  # the relay never calls it
    return StreamRelay(
        route,
        Operation.CHAT,
        upstream(chunks[1:]) if rest is None else rest,
        chunks[0],
        wants_usage=wants_usage,
        tokens=tokens,
        prompt_tokens=lambda: tokens.count_chat([{"role": "user", "content": "Say hello"}]),
        finish=finish,
        started=0.0,
    )


@pytest.mark.parametrize("wants_usage", [True, False])
async def test_a_stream_without_a_usage_chunk_is_counted_once_and_metered_once(wants_usage: bool) -> None:
    tokens = CountingTokenizer()
    finished: list[tuple[Any, ...]] = []
    relay = relay_of([chunk("Hello"), chunk(" there", "stop")], tokens, finished, wants_usage=wants_usage)
    events = [item async for item in relay]
    assert events[-1] == b"data: [DONE]\n\n"
    assert tokens.passes == 2  # one pass over the prompt, one over the answer (it was two of each)
    assert len(finished) == 1
    status, outcome, usage = finished[0]
    assert (status, outcome) == (200, "ok")
    assert usage["completion_tokens"] == Tokenizer().count("Hello there")
    if wants_usage:  # the client's usage chunk carries the same count, with the cost
        sent = json.loads(events[-2].removeprefix(b"data: "))
        assert sent["usage"] == {**usage, "cost": 0.000042}


class Upstream:
    """An upstream stream that may fail after some chunks, and knows whether it was closed."""

    def __init__(self, chunks: list[JSON], error: Exception | None = None) -> None:
        self.chunks, self.error, self.closed = chunks, error, False

    async def __aiter__(self) -> AsyncIterator[JSON]:
        try:
            for item in self.chunks:
                yield item
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


async def relay_over(upstream: Upstream, finished: list[tuple[Any, ...]], *, wants_usage: bool) -> StreamRelay:
    """A relay of ``upstream`` once its first chunk came, as ``relay.open_stream`` hands it over."""
    chunks = aiter(upstream)
    return relay_of([await anext(chunks)], CountingTokenizer(), finished, wants_usage=wants_usage, rest=chunks)


def decoded(event: bytes) -> Any:
    return json.loads(event.removeprefix(b"data: "))


async def test_the_upstreams_usage_chunk_goes_last_with_the_cost_and_is_not_counted_again() -> None:
    tokens = CountingTokenizer()
    finished: list[tuple[Any, ...]] = []
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    chunks = [chunk("Hello"), {"id": "c1", "choices": [], "usage": usage}, chunk(" there", "stop")]
    events = [item async for item in relay_of(chunks, tokens, finished, wants_usage=True)]
    assert tokens.passes == 0  # the upstream counted it
    assert [decoded(e)["choices"][0]["delta"]["content"] for e in events[:2]] == ["Hello", " there"]
    assert decoded(events[2])["usage"] == {**usage, "cost": 0.000042} and events[3] == b"data: [DONE]\n\n"
    assert finished == [(200, "ok", usage)]


async def test_a_client_that_did_not_ask_for_usage_gets_none() -> None:
    finished: list[tuple[Any, ...]] = []
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    with_usage = {**chunk(" there", "stop"), "usage": usage}
    chunks = [chunk("Hello"), with_usage, {"id": "c1", "choices": [], "usage": usage}]
    events = [item async for item in relay_of(chunks, CountingTokenizer(), finished, wants_usage=False)]
    assert len(events) == 3 and all("usage" not in decoded(e) for e in events[:2])
    assert finished == [(200, "ok", usage)]  # metered all the same


async def test_an_upstream_failure_mid_stream_ends_it_with_an_error_event_and_meters_it_once() -> None:
    finished: list[tuple[Any, ...]] = []
    upstream = Upstream([chunk("Hello"), chunk(" there")], UpstreamInvalidResponse("went away"))
    relay = await relay_over(upstream, finished, wants_usage=True)
    events = [item async for item in relay]
    assert decoded(events[-1])["error"]["code"] == "upstream_invalid_response"
    assert b"[DONE]" not in b"".join(events)
    assert [(status, outcome) for status, outcome, _ in finished] == [(502, "upstream_error")]
    assert upstream.closed


async def test_a_client_that_leaves_is_billed_what_was_relayed_once_and_the_upstream_closed() -> None:
    finished: list[tuple[Any, ...]] = []
    upstream = Upstream([chunk("Hello"), chunk(" there"), chunk(" and more", "stop")])
    events = aiter(await relay_over(upstream, finished, wants_usage=True))
    assert decoded(await anext(events))["choices"][0]["delta"]["content"] == "Hello"
    await events.aclose()  # type: ignore[attr-defined]
    [(status, outcome, usage)] = finished
    assert (status, outcome, usage["completion_tokens"]) == (499, "client_disconnect", Tokenizer().count("Hello"))
    assert upstream.closed


@pytest.mark.parametrize(
    ("op", "body"),
    [
        (Operation.CHAT, {"choices": "nope"}),
        (Operation.CHAT, {"choices": []}),
        (Operation.CHAT, {"choices": ["nope"]}),
        (Operation.CHAT, {"choices": [{"index": 0, "message": "nope"}]}),
        (Operation.CHAT, {"choices": [{"index": 0, "message": {"content": "hi"}}], "usage": 12}),
        (Operation.COMPLETIONS, {"choices": [{"index": 0, "text": 5}]}),
        (Operation.EMBEDDINGS, {"data": "nope"}),
        (Operation.EMBEDDINGS, {"data": [{"index": 0}]}),
        (Operation.CHAT, {}),
    ],
)
def test_an_answer_that_is_not_openai_shaped_is_the_upstreams_fault(op: Operation, body: JSON) -> None:
    with pytest.raises(UpstreamInvalidResponse) as caught:
        check_answer(op, body, "provider")
    assert (caught.value.http_status, caught.value.code) == (502, "upstream_invalid_response")


def test_openai_shaped_answers_and_chunks_pass() -> None:
    check_answer(Operation.CHAT, {"choices": [{"index": 0, "message": {"content": None, "tool_calls": []}}]}, "p")
    check_answer(Operation.COMPLETIONS, {"choices": [{"index": 0, "text": "hi"}], "usage": None}, "p")
    check_answer(Operation.EMBEDDINGS, {"data": [{"index": 0, "embedding": [0.1]}], "usage": {}}, "p")
    check_chunk(Operation.CHAT, chunk("hi"), "p")
    check_chunk(Operation.CHAT, {"choices": [], "usage": {"prompt_tokens": 1}}, "p")
    check_chunk(Operation.CHAT, {"choices": [{"index": 0, "finish_reason": "stop"}]}, "p")
    with pytest.raises(UpstreamInvalidResponse):
        check_chunk(Operation.CHAT, {"choices": "nope"}, "p")
    with pytest.raises(UpstreamInvalidResponse):
        check_chunk(Operation.CHAT, {"choices": [{"delta": "nope"}]}, "p")


def test_an_answer_without_usage_is_counted_from_its_text() -> None:
    tokens = Tokenizer()
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello from the fake"}},
            {"index": 1, "message": {"tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]}},
        ]
    }
    usage = counted_usage(Operation.CHAT, body, 9, tokens)
    completion = tokens.count('Hello from the fake{"a": 1}')
    assert usage == {"prompt_tokens": 9, "completion_tokens": completion, "total_tokens": 9 + completion}
    assert counted_usage(Operation.EMBEDDINGS, {"data": []}, 4, tokens)["total_tokens"] == 4
