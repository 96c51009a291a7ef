"""A Responses request as the chat completion that answers it, as pure functions.

Input items become chat messages (``function_call`` items an assistant message's ``tool_calls``,
``function_call_output`` items ``tool`` messages); function tools, ``tool_choice``, ``text.format``,
``max_output_tokens`` and ``reasoning.effort`` their chat spelling. Anything without a chat spelling
(built-in tools, file inputs, item references) is refused with a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from backends.base import JSON
from gateway.protocol.decoding import invalid
from gateway.protocol.responses import ResponseRequest

Item = dict[str, Any]
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = ("input_text", "output_text", "text")


def input_items(request: ResponseRequest) -> list[Item]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    if isinstance(request.input, str):
        return [{"type": "message", "role": "user", "content": request.input}]
    return list(request.input or [])


def chat_body(request: ResponseRequest, context: list[Item], items: list[Item], extra: JSON) -> JSON:
    """The chat completion request: ``instructions`` first, then the carried ``context``, then ``items``;
    ``extra`` (fields the Responses API does not define) passed through beneath the translated ones."""
    messages: list[JSON] = [{"role": "system", "content": request.instructions}] if request.instructions else []
    for where, chain in (("previous_response_id", context), ("input", items)):
        for index, item in enumerate(chain):
            _append(messages, item, f"{where}[{index}]" if where == "input" else where)
    body: JSON = {**extra, "model": request.model, "messages": messages}
    if request.tools:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(request.tools)]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None and request.tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.text is not None and request.text.format is not None and request.text.format.type != "text":
        body["response_format"] = _response_format(request)
    optional = {
        "max_completion_tokens": request.max_output_tokens,
        "reasoning_effort": request.reasoning.effort if request.reasoning else None,
        "verbosity": request.text.verbosity if request.text else None,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
    }
    body.update((name, value) for name, value in optional.items() if value is not None)
    return body


def _append(messages: list[JSON], item: Item, where: str) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, where))
    elif kind == "function_call":
        function = {"name": _text(item, "name", where), "arguments": _text(item, "arguments", where)}
        call = {"id": _text(item, "call_id", where), "type": "function", "function": function}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
            last["tool_calls"].append(call)  # parallel calls are one assistant turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        content = output if isinstance(output, str) else _joined(output, f"{where}.output")
        messages.append({"role": "tool", "tool_call_id": _text(item, "call_id", where), "content": content})
    elif kind == "reasoning":
        return  # a reasoning model's summary of an earlier turn: chat has no place for it
    else:
        raise invalid(f"{where}.type", f"Unsupported input item type '{kind}'.", "unsupported_value")


def _message(item: Item, where: str) -> JSON:
    role = _ROLES.get(str(item.get("role")))
    if role is None:
        raise invalid(
            f"{where}.role", f"Invalid value: '{item.get('role')}'. Supported values are: {', '.join(_ROLES)}."
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "A message's 'content' must be a string or a list of content parts.")
    if role != "user":  # only users send images; the others' parts are text
        return {"role": role, "content": _joined(content, f"{where}.content")}
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    if len(parts) == 1 and parts[0]["type"] == "text":  # the plain form, which every backend reads
        return {"role": role, "content": parts[0]["text"]}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> JSON:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": _text(part, "text", where)}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            why = "Images by 'file_id' are not supported by this gateway" if part.get("file_id") else "Missing"
            raise invalid(f"{where}.image_url", f"{why}: an 'input_image' needs an 'image_url'.")
        return {"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}}
    raise invalid(f"{where}.type", f"Unsupported content part type '{kind}'.", "unsupported_value")


def _joined(parts: Any, where: str) -> str:
    if not isinstance(parts, list):
        raise invalid(where, "Expected a string or a list of text parts.")
    texts = []
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind in _TEXT_PARTS:
            texts.append(_text(part, "text", f"{where}[{i}]"))
        else:
            raise invalid(f"{where}[{i}].type", f"Unsupported content part type '{kind}' here.", "unsupported_value")
    return "".join(texts)


def _text(item: Item, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise invalid(f"{where}.{name}", f"Missing required parameter: '{where}.{name}'.", "missing_required_parameter")
    return value


def _tool(tool: Any, where: str) -> JSON:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        raise invalid(
            f"{where}.type",
            f"Unsupported tool type '{kind}': this gateway supports only 'function' tools.",
            "unsupported_value",
        )
    function: JSON = {"name": _text(tool, "name", where)}
    for name in ("description", "parameters", "strict"):
        if tool.get(name) is not None:
            function[name] = tool[name]
    return {"type": "function", "function": function}


def _tool_choice(choice: str | dict[str, Any]) -> Any:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise invalid(
        "tool_choice",
        f"Unsupported 'tool_choice' of type '{choice.get('type')}': use 'none', 'auto', 'required' or a function.",
        "unsupported_value",
    )


def _response_format(request: ResponseRequest) -> JSON:
    assert request.text is not None and request.text.format is not None
    form = request.text.format
    if form.type == "json_object":
        return {"type": "json_object"}
    schema: JSON = {"name": form.name, "schema": form.schema}
    if form.description is not None:
        schema["description"] = form.description
    if form.strict is not None:
        schema["strict"] = form.strict
    return {"type": "json_schema", "json_schema": schema}
