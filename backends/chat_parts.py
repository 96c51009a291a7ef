"""The OpenAI side of a chat translation, shared by the native backends' wire modules
(:mod:`backends.anthropic_wire`, :mod:`backends.bedrock_wire`, :mod:`backends.gemini_wire` and
their answer/stream halves): reading and checking the OpenAI request's messages, tools and limits,
and building the OpenAI answer's pieces. Nothing here knows an upstream's own format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from backends.base import JSON
from gateway.core.errors import InvalidRequest


def bad_message(position: int, problem: str) -> InvalidRequest:
    """The 400 for a problem with ``messages[position]``."""
    return InvalidRequest(f"messages[{position}]: {problem}", param="messages")


def reject_logprobs(body: Mapping[str, Any], backend: str) -> None:
    """Log probabilities are OpenAI's alone: asking for them is a 400 naming the backend."""
    for name in ("logprobs", "top_logprobs"):
        if body.get(name):
            raise InvalidRequest(f"{name} is not supported by the {backend} backend", param=name)


def reject_beyond_one_text_choice(body: Mapping[str, Any], backend: str) -> None:
    """A 400 for what a backend answering one plain-text choice cannot do: ``n`` > 1,
    log probabilities, a ``response_format`` other than text."""
    if body.get("n") not in (None, 1):
        raise InvalidRequest(f"the {backend} backend returns one choice only: n must be 1", param="n")
    reject_logprobs(body, backend)
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind not in (None, "text"):
        raise InvalidRequest(
            f"response_format {kind!r} is not supported by the {backend} backend", param="response_format"
        )


def positive_int(value: Any, name: str) -> int:
    """``value`` if it is a positive integer (not a bool), else a 400 naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{name} must be a positive integer", param=name)
    return value


def max_tokens(body: Mapping[str, Any]) -> int | None:
    """The output limit asked for (``max_completion_tokens`` before the older ``max_tokens``), if any."""
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(name)
    return None if value is None else positive_int(value, name)


def stop_sequences(stop: Any) -> list[str]:
    """OpenAI's ``stop`` (a string, a list of strings or nothing) as a list."""
    stops = [stop] if isinstance(stop, str) else [] if stop is None else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise InvalidRequest("stop must be a string or a list of strings", param="stop")
    return stops


def split_messages(
    messages: list[Any],
    system_blocks: Callable[[Any, int], list[JSON]],
    turn: Callable[[Any, Mapping[str, Any], int], tuple[str, list[JSON]]],
    *,
    key: str = "content",
) -> tuple[list[JSON], list[JSON]]:
    """The system blocks and the turns of OpenAI ``messages``: system and developer messages become
    ``system_blocks(content, position)``; each other message becomes ``turn(role, message, position)``
    (the upstream's role and blocks), consecutive turns of one role merged, since the upstreams want
    alternating turns and one turn answers all of an assistant turn's parallel tool calls. A message
    without blocks is left out: the upstreams refuse empty turns, and it carries nothing."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise bad_message(position, "each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(system_blocks(message.get("content"), position))
            continue
        upstream_role, blocks = turn(role, message, position)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == upstream_role:
            turns[-1][key].extend(blocks)
        else:
            turns.append({"role": upstream_role, key: blocks})
    return system, turns


def image_url(image: Any, position: int) -> str:
    """The URL of an ``image_url`` content part (the object form or a bare string)."""
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str):
        raise bad_message(position, "image_url.url must be a string")
    return url


def base64_data_url(url: str, position: int) -> tuple[str, str]:
    """The media type and base64 payload of a ``data:`` URL (which must say ``;base64``)."""
    header, comma, data = url[len("data:") :].partition(",")
    media_type, *params = header.split(";")
    if not comma or not media_type or params[-1:] != ["base64"]:
        raise bad_message(position, "image data URLs must be base64")
    return media_type, data


def tool_call_arguments(function: Mapping[str, Any], position: int) -> dict[str, Any]:
    """An assistant tool call's ``function.arguments`` (a JSON string, or already an object) as a dict."""
    arguments = function.get("arguments") or "{}"
    try:
        parsed = msgspec.json.decode(arguments) if isinstance(arguments, str | bytes) else arguments
    except msgspec.DecodeError as exc:
        raise bad_message(position, "tool call arguments are not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise bad_message(position, "tool call arguments must be a JSON object")
    return parsed


def function_of_tool(tool: Any, index: int) -> Mapping[str, Any]:
    """The ``function`` of ``tools[index]``, which must be a named function tool."""
    function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type") == "function" else None
    if not isinstance(function, Mapping) or not function.get("name"):
        raise InvalidRequest(f"tools[{index}]: only named function tools are supported", param="tools")
    return function


def chosen_function(choice: Any) -> Any:
    """The function name a ``tool_choice`` object names; called once the string modes are ruled out."""
    function = choice.get("function") if isinstance(choice, Mapping) and choice.get("type") == "function" else None
    if isinstance(function, Mapping) and function.get("name"):
        return function["name"]
    raise InvalidRequest("tool_choice must be auto, none, required or a named function", param="tool_choice")


def int_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """The integer counts of an upstream's usage object (bools and anything else left out)."""
    return {key: value for key, value in usage.items() if isinstance(value, int) and not isinstance(value, bool)}


def cached_usage(uncached: int, output: int, *, read: int, written: int) -> JSON:
    """OpenAI usage for an upstream that counts cache reads and writes apart from the other input:
    ``prompt_tokens`` counts them all, and the raw cache counts are kept (writes are priced apart)."""
    prompt = uncached + read + written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def tool_call(call_id: Any, name: Any, arguments: Any) -> JSON:
    """An OpenAI tool call, its arguments (an object) encoded as the JSON string OpenAI sends."""
    encoded = msgspec.json.encode(arguments or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def assistant_reply(content: str | None, tool_calls: list[JSON]) -> JSON:
    """The ``message`` of a chat completion choice."""
    reply: JSON = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return reply


def chunk(completion_id: Any, created: int, model: Any, delta: JSON, finish: str | None, *, index: int = 0) -> JSON:
    """One ``chat.completion.chunk`` carrying ``delta`` for choice ``index``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
