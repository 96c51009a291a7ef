"""A stored answer replays as the stream an upstream would have sent, and a stream records as an answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from backends.base import BackendContext, Operation
from backends.http import build_client
from backends.simulator import SimulatorBackend, SimulatorConfig
from gateway.cache.recorder import StreamRecorder
from gateway.cache.replay import fresh_body, replay
from gateway.tokens import Tokenizer

ASK = {"model": "sim", "messages": [{"role": "user", "content": "hi"}], "n": 2, "temperature": 0}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


async def _recorded(body: dict[str, Any]) -> tuple[list[dict[str, Any]], StreamRecorder]:
    async with build_client() as http:
        backend = SimulatorBackend("sim", SimulatorConfig(), BackendContext(http=http, tokens=Tokenizer()))
        chunks = backend.stream(Operation.CHAT, {**body, "stream": True, "stream_options": {"include_usage": True}})
        first = await anext(chunks)
        recorder = StreamRecorder(Operation.CHAT, chunks, first)
        seen = [first, *[chunk async for chunk in recorder]]
    return seen, recorder


async def _events(body: dict[str, Any], op: Operation, wants_usage: bool) -> list[Any]:
    frames = b"".join([frame async for frame in replay(body, op, wants_usage=wants_usage)])
    assert frames.endswith(b"data: [DONE]\n\n")
    return [msgspec.json.decode(f[len(b"data: ") :]) for f in frames.split(b"\n\n")[:-2]]


async def test_a_recorded_stream_is_the_answer_the_upstream_would_have_given() -> None:
    seen, recorder = await _recorded(ASK)
    usage = seen[-1]["usage"]
    answer = recorder.answer(usage)
    assert answer is not None
    async with build_client() as http:
        backend = SimulatorBackend("sim", SimulatorConfig(), BackendContext(http=http, tokens=Tokenizer()))
        whole = await backend.request(Operation.CHAT, dict(ASK))
    assert [c["message"] for c in answer["choices"]] == [c["message"] for c in whole["choices"]]
    assert [c["finish_reason"] for c in answer["choices"]] == ["stop", "stop"]
    assert answer["usage"] == usage and answer["object"] == "chat.completion"


async def test_a_stream_that_calls_tools_records_nothing_to_store() -> None:
    _, recorder = await _recorded({**ASK, "tools": TOOLS, "tool_choice": "required"})
    assert recorder.answer(None) is None


async def test_replay_has_role_content_finish_usage_and_done() -> None:
    stored = {
        "id": "chatcmpl-old",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "one two three four five six seven eight nine"}},
            {"index": 1, "message": {"role": "assistant", "content": "ten"}},
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13},
    }
    for choice in stored["choices"]:
        choice["finish_reason"] = "stop"
    body = fresh_body(stored, Operation.CHAT, "req_1", Decimal("0.000002"))
    events = await _events(body, Operation.CHAT, wants_usage=True)
    assert {e["id"] for e in events} == {"chatcmpl-req_1"} and body["created"] > 1
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    first = [e for e in events if e["choices"] and e["choices"][0]["index"] == 0]
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(first) > 3  # the content arrives in several chunks
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in first)
    assert text == stored["choices"][0]["message"]["content"]
    assert first[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["cost"] == 0.000002
    without_usage = await _events(body, Operation.CHAT, wants_usage=False)
    assert all("usage" not in e for e in without_usage)


async def test_completions_replay_as_text_chunks() -> None:
    stored = {"model": "m", "choices": [{"index": 0, "text": "a b", "finish_reason": "stop"}]}
    events = await _events(fresh_body(stored, Operation.COMPLETIONS, "r", Decimal(0)), Operation.COMPLETIONS, True)
    assert "".join(e["choices"][0]["text"] for e in events) == "a b"
    assert events[0]["id"] == "cmpl-r" and events[-1]["choices"][0]["finish_reason"] == "stop"
