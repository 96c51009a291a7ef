"""The fake Bedrock's model: the conversation rules Converse enforces beyond its schema, and the
deterministic answer (see tests/fakes/bedrock_server.py). One token per whitespace-separated word."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

JSON = dict[str, Any]
IMAGE_TOKENS = 85


class ApiError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def _invalid(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def check_conversation(body: JSON) -> None:
    """What Converse refuses although its schema allows it."""
    messages = body["messages"]
    if not messages or messages[0]["role"] != "user":
        raise _invalid(
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message."
        )
    has_tools = bool((body.get("toolConfig") or {}).get("tools"))
    for index, message in enumerate(messages):
        if message["role"] not in ("user", "assistant"):
            raise _invalid(f"messages.{index}.role: a message's role must be user or assistant.")
        if index and messages[index - 1]["role"] == message["role"]:
            raise _invalid(
                "A conversation must alternate between user and assistant roles. "
                "Make sure the conversation alternates between user and assistant roles and try again."
            )
        for position, block in enumerate(message["content"]):
            if "text" in block and not block["text"].strip():
                raise _invalid(
                    f"The text field in the ContentBlock object at messages.{index}.content.{position} is blank. "
                    "Add text to the text field, and try again."
                )
            if ("toolUse" in block or "toolResult" in block) and not has_tools:
                raise _invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
        _check_tool_results(index, message, messages[index - 1] if index else None)
    _check_tool_choice(body)


def _check_tool_results(index: int, message: JSON, previous: JSON | None) -> None:
    offered = {b["toolUse"]["toolUseId"] for b in (previous or {}).get("content", ()) if "toolUse" in b}
    answered = {b["toolResult"]["toolUseId"] for b in message["content"] if "toolResult" in b}
    if answered - offered:
        raise _invalid(
            f"The number of toolResult blocks at messages.{index}.content exceeds the number of toolUse blocks "
            "of previous turn."
        )
    if message["role"] == "user" and offered - answered:
        raise _invalid(
            f"Expected toolResult blocks at messages.{index}.content for the following Ids: "
            + ", ".join(sorted(offered - answered))
        )


def _check_tool_choice(body: JSON) -> None:
    config = body.get("toolConfig") or {}
    named = (config.get("toolChoice") or {}).get("tool")
    names = {tool["toolSpec"]["name"] for tool in config.get("tools", ()) if "toolSpec" in tool}
    if named and named["name"] not in names:
        raise _invalid(f"The tool {named['name']} specified in toolChoice is not defined in the toolConfig.")


def last_user_text(body: JSON) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return " ".join(b["text"] for b in users[-1]["content"] if "text" in b) if users else ""


def answer(body: JSON, cached_prefixes: set[str]) -> JSON:
    """The Converse answer for ``body``; ``cached_prefixes`` remembers the prompt prefixes cached."""
    text = last_user_text(body)
    tool = _chosen_tool(body, text)
    config = body.get("inferenceConfig") or {}
    if tool is not None:
        forced = "auto" not in ((body.get("toolConfig") or {}).get("toolChoice") or {"auto": {}})
        blocks: list[JSON] = [] if forced else [{"text": f"Calling {tool['name']}."}]
        call = {"toolUseId": f"tooluse_{_digest(text)[:22]}", "name": tool["name"], "input": _sample(tool)}
        blocks.append({"toolUse": call})
        stop_reason = "tool_use"
        output = sum(_tokens(msgspec.json.encode(b).decode()) for b in blocks)
    else:
        reply, stop_reason = _text_answer(body, text, config)
        blocks, output = [{"text": reply}], _tokens(reply)
    usage = {**_input_usage(body, cached_prefixes), "outputTokens": output}
    usage["totalTokens"] = sum(
        usage.get(k, 0) for k in ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    )
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop_reason,
        "usage": usage,
        "metrics": {"latencyMs": 42},
    }


def _chosen_tool(body: JSON, text: str) -> JSON | None:
    config = body.get("toolConfig") or {}
    tools = [tool["toolSpec"] for tool in config.get("tools", ()) if "toolSpec" in tool]
    choice = config.get("toolChoice") or {"auto": {}}
    if not tools:
        return None
    if "tool" in choice:
        return next(t for t in tools if t["name"] == choice["tool"]["name"])
    if "any" in choice or "[[use_tool]]" in text:
        return tools[0]
    return None


def _sample(tool: JSON) -> JSON:
    properties = tool["inputSchema"]["json"].get("properties") or {}
    samples = {"string": "sample", "integer": 1, "number": 1.5, "boolean": True, "array": []}
    return {name: samples.get(str(schema.get("type"))) for name, schema in properties.items()}


def _text_answer(body: JSON, text: str, config: JSON) -> tuple[str, str]:
    results = [b["toolResult"] for b in body["messages"][-1]["content"] if "toolResult" in b]
    if results:
        reply = "tool said: " + " | ".join(" ".join(c.get("text", "") for c in r["content"]) for r in results)
    elif "[[slow]]" in text:
        reply = "echo: " + " ".join(f"word{i}" for i in range(200))
    else:
        reply = f"echo: {text}"
    for sequence in config.get("stopSequences") or ():
        if sequence in reply:
            return reply[: reply.index(sequence)], "stop_sequence"
    words = reply.split(" ")
    if "maxTokens" in config and len(words) > config["maxTokens"]:
        return " ".join(words[: config["maxTokens"]]), "max_tokens"
    return reply, "end_turn"


def _tokens(text: str) -> int:
    return len(text.split())


def _digest(value: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(value)).hexdigest()


def _segments(body: JSON) -> list[tuple[int, Any]]:
    """(tokens, content) in the order Bedrock caches: tools, system, messages; a cache point is (-1, None)."""
    segments: list[tuple[int, Any]] = []
    blocks = [*((body.get("toolConfig") or {}).get("tools") or ()), *(body.get("system") or ())]
    blocks += [block for message in body["messages"] for block in message["content"]]
    for block in blocks:
        if "cachePoint" in block:
            segments.append((-1, None))
        elif "image" in block:
            segments.append((IMAGE_TOKENS, block))
        else:
            segments.append((_tokens(block.get("text") or msgspec.json.encode(block).decode()), block))
    return segments


def _input_usage(body: JSON, cached_prefixes: set[str]) -> JSON:
    segments = _segments(body)
    total = sum(tokens for tokens, _ in segments if tokens > 0)
    marks = [index for index, (tokens, _) in enumerate(segments) if tokens < 0]
    if not marks:
        return {"inputTokens": total}
    prefix = [(tokens, content) for tokens, content in segments[: marks[-1]] if tokens > 0]
    key = _digest([content for _, content in prefix])
    size = sum(tokens for tokens, _ in prefix)
    read, written = (size, 0) if key in cached_prefixes else (0, size)
    cached_prefixes.add(key)
    return {"inputTokens": total - read - written, "cacheReadInputTokens": read, "cacheWriteInputTokens": written}
