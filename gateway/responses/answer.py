"""The Response object built from a chat completion's answer: plain data in, plain data out (no I/O).

Ids derive from the gateway's request id (``resp_…``, ``msg_…``, ``fc_…``), so a response, its
items and its usage event name the same request; a response id adds random digits. Usage takes
the Responses shape, with Tollgate's ``cost`` (USD, what the customer was charged) beside it, as
chat's usage carries it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from backends.base import JSON
from gateway.protocol.responses import ResponseRequest

Item = dict[str, Any]
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_id(request_id: str) -> str:
    """``resp_`` + the request id's digits + 16 random hex digits. Request ids count up; a stored
    response is found by its id within its customer, so the id must not be guessable from another
    (the keys of one customer, or the callers of an anonymous gateway, share its responses)."""
    return f"resp_{request_id.removeprefix('req_')}{secrets.token_hex(8)}"


def message_id(request_id: str) -> str:
    return f"msg_{request_id.removeprefix('req_')}"


def call_item_id(request_id: str, index: int) -> str:
    return f"fc_{request_id.removeprefix('req_')}_{index}"


def text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_part(text: str) -> JSON:
    return {"type": "reasoning_text", "text": text}


def reasoning_item(request_id: str, parts: list[JSON], status: str) -> Item:
    return {
        "id": f"rs_{request_id.removeprefix('req_')}",
        "type": "reasoning",
        "summary": [],
        "content": parts,
        "status": status,
    }


def reasoning_text(message: JSON) -> str | None:
    """A reasoning model's thinking, as OpenAI-compatible engines (vLLM) add it to a chat message or delta."""
    text = message.get("reasoning_content") or message.get("reasoning")
    return text if isinstance(text, str) and text else None


def message_item(request_id: str, parts: list[JSON], status: str) -> Item:
    return {"id": message_id(request_id), "type": "message", "status": status, "role": "assistant", "content": parts}


def call_item(request_id: str, index: int, call_id: str, name: str, arguments: str, status: str) -> Item:
    return {
        "id": call_item_id(request_id, index),
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_items(request_id: str, message: JSON, finish_reason: str | None) -> list[Item]:
    """A chat choice's message as output items: the reasoning, the text (or refusal), then each tool call."""
    status = "incomplete" if finish_reason in _INCOMPLETE else "completed"
    thinking = reasoning_text(message)
    reasoning = [reasoning_item(request_id, [reasoning_part(thinking)], status)] if thinking else []
    parts: list[JSON] = []
    if message.get("content"):
        parts.append(text_part(str(message["content"])))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": str(message["refusal"])})
    items = [*reasoning, message_item(request_id, parts, status)] if parts else reasoning
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        name, arguments = str(function.get("name", "")), str(function.get("arguments") or "")
        items.append(call_item(request_id, index, str(call.get("id", "")), name, arguments, "completed"))
    return items


def usage(chat_usage: JSON) -> JSON:
    """Chat usage (``prompt_tokens``, …, ``cost``) in the Responses shape, ``cost`` kept."""
    prompt = chat_usage.get("prompt_tokens_details") or {}
    completion = chat_usage.get("completion_tokens_details") or {}
    input_tokens = int(chat_usage.get("prompt_tokens") or 0)
    output_tokens = int(chat_usage.get("completion_tokens") or 0)
    shaped: JSON = {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": int(prompt.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt.get("cache_write_tokens") or 0),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": int(chat_usage.get("total_tokens") or input_tokens + output_tokens),
    }
    if "cost" in chat_usage:
        shaped["cost"] = chat_usage["cost"]
    return shaped


def skeleton(request: ResponseRequest, request_id: str, model: str, created_at: int) -> JSON:
    """The response as ``response.created`` shows it: in progress, no output yet; its settings echoed."""
    form = request.text.format if request.text and request.text.format else None
    text: JSON = {"format": shown_format(form) if form else {"type": "text"}}
    if request.text and request.text.verbosity:
        text["verbosity"] = request.text.verbosity
    return {
        "id": response_id(request_id),
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": request.metadata or {},
        "model": model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": {"effort": request.reasoning.effort if request.reasoning else None, "summary": None},
        "store": request.store,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "text": text,
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": [_echoed_tool(tool) for tool in request.tools or ()],
        "top_p": request.top_p if request.top_p is not None else 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": request.user,
    }


def finished(skeleton_body: JSON, output: list[Item], finish_reason: str | None, chat_usage: JSON) -> JSON:
    """The final response: its output, its status (``incomplete`` when the answer was cut), its usage."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return {
        **skeleton_body,
        "status": "incomplete" if reason else "completed",
        "completed_at": int(time.time()),
        "incomplete_details": {"reason": reason} if reason else None,
        "output": output,
        "usage": usage(chat_usage),
    }


def shown_format(form: Any) -> JSON:
    """``text.format`` as sent, without the fields left out."""
    shown = {"type": form.type}
    for name in ("name", "schema", "description", "strict"):
        value = getattr(form, name)
        if value is not None:
            shown[name] = value
    return shown


def _echoed_tool(tool: JSON) -> JSON:
    return {"strict": None, "description": None, "parameters": None, **tool}
