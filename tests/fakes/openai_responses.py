"""``POST /v1/responses`` of the fake OpenAI server, in OpenAI's wire format (the SDK's
``openai.types.responses``): a ``response`` object, or with ``stream`` its named events
(``response.created``, ``response.in_progress``, per item ``response.output_item.added``, for text
``response.content_part.added``, ``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done``, for a call ``response.function_call_arguments.delta``/``.done``, then
``response.output_item.done``, and last ``response.completed``), numbered by ``sequence_number``,
with no ``[DONE]``.

With function tools and an input that does not end with a ``function_call_output``, it calls the
first tool (``{"query": "lighthouse"}``); otherwise it answers ``WORDS``. Usage: 11 input tokens, one
output token a word (a call: 5); ``trigger:cached`` makes 8 input tokens cached and 2 output tokens
reasoning (the chat endpoint's usage, in the Responses shape). Faults (in a string ``input``): the
server's ``trigger:status:CODE``…, and ``trigger:shapeless`` (a 200 that is not a response),
``trigger:midstream-error`` (an ``error`` event where the text would be done), ``trigger:stall``
(nothing more for 30 s after two text deltas).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import openai_server

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI

CALL_ARGUMENTS = '{"query": "lighthouse"}'


def routes(fake: FakeOpenAI) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.StreamResponse:
        return await _create(fake, request)

    return [web.post("/v1/responses", create)]


async def _create(fake: FakeOpenAI, request: web.Request) -> web.StreamResponse:
    body, trigger = await fake._admit(request)
    if trigger == "shapeless":
        return web.json_response({"id": "resp_x", "object": "response", "output": "nope"})
    response = _response(body, trigger)
    if not body.get("stream"):
        return web.json_response(response)
    stream = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await stream.prepare(request)
    fake.state.streams_started += 1
    for event in _events(response):
        if trigger == "midstream-error" and event["type"] == "response.output_text.done":
            error = {"type": "error", "code": "server_error", "message": "The server had an error.", "param": None}
            await stream.write(_frame({**error, "sequence_number": event["sequence_number"]}))
            return stream
        await stream.write(_frame(event))
        if trigger == "stall" and event.get("delta") == openai_server.WORDS[1]:
            await openai_server._stall(stream)
    fake.state.streams_finished += 1
    return stream


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _response(body: dict[str, Any], trigger: str) -> dict[str, Any]:
    stamp = f"{time.time_ns():x}"
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    items = body.get("input") if isinstance(body.get("input"), list) else []
    answered = bool(items) and items[-1].get("type") == "function_call_output"
    item: dict[str, Any]
    if tools and not answered:
        item = {
            "type": "function_call",
            "id": f"fc_{stamp}",
            "call_id": f"call_{stamp}",
            "name": tools[0]["name"],
            "arguments": CALL_ARGUMENTS,
            "status": "completed",
        }
        output = 5
    else:
        part = {"type": "output_text", "text": "".join(openai_server.WORDS), "annotations": [], "logprobs": []}
        item = {"type": "message", "id": f"msg_{stamp}", "status": "completed", "role": "assistant", "content": [part]}
        output = len(openai_server.WORDS)
    cached, reasoning = (8, 2) if trigger == "cached" else (0, 0)
    return {
        "id": f"resp_{stamp}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": [item],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": 11 + output,
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _events(final: dict[str, Any]) -> list[dict[str, Any]]:
    pending = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
    ]
    item = final["output"][0]
    where = {"item_id": item["id"], "output_index": 0}
    if item["type"] == "function_call":
        events.append({"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}})
        events.append({"type": "response.function_call_arguments.delta", **where, "delta": item["arguments"]})
        events.append({"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})
    else:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        added = {**item, "status": "in_progress", "content": []}
        events.append({"type": "response.output_item.added", "output_index": 0, "item": added})
        events.append({"type": "response.content_part.added", **where, "content_index": 0, "part": part})
        for word in openai_server.WORDS:
            delta = {"delta": word, "logprobs": []}
            events.append({"type": "response.output_text.delta", **where, "content_index": 0, **delta})
        text = {"text": "".join(openai_server.WORDS), "logprobs": []}
        events.append({"type": "response.output_text.done", **where, "content_index": 0, **text})
        events.append({"type": "response.content_part.done", **where, "content_index": 0, "part": item["content"][0]})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    events.append({"type": "response.completed", "response": final})
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]
