"""A built-in deterministic model, for the demo, load tests and benchmarks. It is not a real model.

Its images and audio are drawn by :mod:`backends.simulator_images` and :mod:`backends.simulator_audio`.
Its text answer is a function of the prompt (and ``seed``, and the choice index when ``n`` > 1): words
drawn from a fixed vocabulary in which every word is one token of OpenAI's encodings, so ``usage``
is exact. Streams go word by word after a configurable time to first token and inter-token delay.
Embeddings are unit vectors derived from a hash of the input.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from backends import simulator_audio, simulator_images
from backends.base import JSON, BackendContext, Form, Operation, Payload, content_text

VOCABULARY = [
    "the",
    "a",
    "cat",
    "dog",
    "sun",
    "moon",
    "river",
    "stone",
    "light",
    "road",
    "city",
    "green",
    "blue",
    "bright",
    "quiet",
    "small",
    "large",
    "park",
    "window",
    "day",
    "night",
    "answer",
    "model",
    "token",
    "signal",
    "water",
    "forest",
    "music",
    "paper",
    "story",
    "simple",
    "clear",
    "quick",
    "slow",
    "warm",
    "cold",
    "open",
    "close",
    "north",
    "south",
    "east",
    "west",
    "house",
    "bridge",
    "field",
    "cloud",
    "rain",
    "wind",
    "fire",
    "earth",
    "tree",
    "bird",
    "fish",
    "song",
    "color",
    "number",
    "letter",
    "word",
    "voice",
]

OWNER = "tollgate-simulator"


class SimulatorConfig(msgspec.Struct, tag="simulator", forbid_unknown_fields=True):
    ttft_ms: float = 0.0
    inter_token_ms: float = 0.0
    min_tokens: int = 8
    max_tokens: int = 48
    embedding_dimensions: int = 384
    region: str | None = None


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256(msgspec.json.encode(parts)).digest()
    return int.from_bytes(digest[:8], "little")


def answer_words(prompt: str, seed: Any, index: int, limit: int, config: SimulatorConfig) -> list[str]:
    """The words of one deterministic answer; ``limit`` is the caller's token cap."""
    state = _seed(prompt, seed, index)
    length = config.min_tokens + state % max(1, config.max_tokens - config.min_tokens + 1)
    words = []
    for _ in range(min(length, limit)):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        words.append(VOCABULARY[(state >> 33) % len(VOCABULARY)])
    return words


def _apply_stop(text: str, stop: Any) -> tuple[str, bool]:
    stops = [stop] if isinstance(stop, str) else list(stop or ())
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class _Choice(msgspec.Struct):
    text: str
    finish_reason: str
    pieces: list[str]
    tool_call: JSON | None = None


class SimulatorBackend:
    def __init__(self, name: str, config: SimulatorConfig, ctx: BackendContext) -> None:
        self.name = name
        self._config = config
        self._tokens = ctx.tokens

    @classmethod
    def from_config(cls, name: str, config: SimulatorConfig, ctx: BackendContext) -> SimulatorBackend:
        return cls(name, config, ctx)

    def supports(self, op: Operation) -> bool:
        return op is not Operation.RESPONSES  # served by the gateway's translation into chat

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    def _choices(self, body: JSON, prompt: str) -> list[_Choice]:
        cap = body.get("max_completion_tokens") or body.get("max_tokens") or 1 << 30
        forced = _forced_tool(body)
        choices = []
        for index in range(body.get("n") or 1):
            words = answer_words(prompt, body.get("seed"), index, cap, self._config)
            if forced is not None:
                arguments = msgspec.json.encode({"query": " ".join(words[:3])}).decode()
                call = {
                    "id": f"call_{_seed(prompt, index):x}",
                    "type": "function",
                    "function": {"name": forced, "arguments": arguments},
                }
                choices.append(_Choice("", "tool_calls", [], call))
                continue
            pieces = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
            text, stopped = _apply_stop("".join(pieces), body.get("stop"))
            if stopped:
                pieces = _pieces_up_to(pieces, len(text))
            reason = "stop" if stopped or len(words) < cap else "length"
            choices.append(_Choice(text, reason, pieces))
        return choices

    def _prompt(self, op: Operation, body: JSON) -> tuple[str, int]:
        if op is Operation.CHAT:
            messages = body.get("messages") or []
            return "\n".join(content_text(m.get("content")) for m in messages), self._tokens.count_chat(messages)
        prompt = body.get("prompt", "")
        text = prompt if isinstance(prompt, str) else msgspec.json.encode(prompt).decode()
        return text, self._tokens.count(text)

    def _usage(self, prompt_tokens: int, choices: list[_Choice]) -> JSON:
        completion = sum(
            self._tokens.count(c.text)
            if c.tool_call is None
            else self._tokens.count(c.tool_call["function"]["arguments"])
            for c in choices
        )
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }

    async def request(self, op: Operation, body: JSON) -> JSON:
        if op is Operation.EMBEDDINGS:
            return self._embeddings(body)
        if op is Operation.IMAGES:
            return await asyncio.to_thread(simulator_images.generate, body)
        prompt, prompt_tokens = self._prompt(op, body)
        choices = self._choices(body, prompt)
        await asyncio.sleep(self._config.ttft_ms / 1000 + self._delay(choices))
        head = _head(op, body, streaming=False)
        if op is Operation.CHAT:
            head["choices"] = [_chat_choice(i, c) for i, c in enumerate(choices)]
        else:
            head["choices"] = [
                {"index": i, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason}
                for i, c in enumerate(choices)
            ]
        head["usage"] = self._usage(prompt_tokens, choices)
        return head

    def _delay(self, choices: list[_Choice]) -> float:
        longest = max((len(c.pieces) for c in choices), default=0)
        return max(0, longest - 1) * self._config.inter_token_ms / 1000

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        prompt, prompt_tokens = self._prompt(op, body)
        choices = self._choices(body, prompt)
        head = _head(op, body, streaming=True)
        await asyncio.sleep(self._config.ttft_ms / 1000)
        for step, chunk_choices in enumerate(_stream_steps(op, choices)):
            if step > 1 and self._config.inter_token_ms:
                await asyncio.sleep(self._config.inter_token_ms / 1000)
            yield {**head, "choices": chunk_choices}
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**head, "choices": [], "usage": self._usage(prompt_tokens, choices)}

    async def upload(self, op: Operation, form: Form) -> Payload:
        if op in (Operation.IMAGE_EDITS, Operation.IMAGE_VARIATIONS):
            edited = await asyncio.to_thread(simulator_images.from_upload, op, form)
            return Payload(msgspec.json.encode(edited), "application/json")
        return await asyncio.to_thread(simulator_audio.transcribe, op, form, VOCABULARY)

    def audio(self, op: Operation, body: JSON) -> AsyncIterator[bytes]:
        return simulator_audio.speak(body)

    def _embeddings(self, body: JSON) -> JSON:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) and not all(isinstance(i, int) for i in inputs) else [inputs]
        dims = body.get("dimensions") or self._config.embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(items):
            vector = _unit_vector(msgspec.json.encode(item), dims)
            embedding: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(i) if isinstance(i, list) else self._tokens.count(str(i)) for i in items)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _forced_tool(body: JSON) -> str | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    if isinstance(choice, dict):
        return str((choice.get("function") or {}).get("name"))
    return str(tools[0].get("function", {}).get("name"))


def _pieces_up_to(pieces: list[str], length: int) -> list[str]:
    kept, used = [], 0
    for piece in pieces:
        if used + len(piece) > length:
            if length > used:
                kept.append(piece[: length - used])
            break
        kept.append(piece)
        used += len(piece)
    return kept


def _head(op: Operation, body: JSON, *, streaming: bool) -> JSON:
    if op is Operation.CHAT:
        kind = "chat.completion.chunk" if streaming else "chat.completion"
        prefix = "chatcmpl"
    else:
        kind, prefix = "text_completion", "cmpl"
    head: JSON = {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": body.get("model"),
    }
    if op is Operation.CHAT:
        head["system_fingerprint"] = "fp_tollgate_simulator"
    return head


def _chat_choice(index: int, choice: _Choice) -> JSON:
    message: JSON = {"role": "assistant", "content": choice.text if choice.tool_call is None else None}
    if choice.tool_call is not None:
        message["tool_calls"] = [choice.tool_call]
    return {"index": index, "message": message, "logprobs": None, "finish_reason": choice.finish_reason}


def _stream_steps(op: Operation, choices: list[_Choice]) -> Iterator[list[JSON]]:
    """The ``choices`` of each chunk: a role chunk (chat), one piece per step, then finish reasons."""
    if op is Operation.CHAT:
        yield [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
            for i in range(len(choices))
        ]
    longest = max((len(c.pieces) for c in choices), default=0)
    for step in range(longest):
        out = [_piece(op, i, c.pieces[step]) for i, c in enumerate(choices) if step < len(c.pieces)]
        yield out
    for i, c in enumerate(choices):
        if c.tool_call is not None:
            call = {"index": 0, **c.tool_call}
            yield [{"index": i, "delta": {"tool_calls": [call]}, "logprobs": None, "finish_reason": None}]
    yield [_finish(op, i, c.finish_reason) for i, c in enumerate(choices)]


def _piece(op: Operation, index: int, text: str) -> JSON:
    if op is Operation.CHAT:
        return {"index": index, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
    return {"index": index, "text": text, "logprobs": None, "finish_reason": None}


def _finish(op: Operation, index: int, reason: str) -> JSON:
    if op is Operation.CHAT:
        return {"index": index, "delta": {}, "logprobs": None, "finish_reason": reason}
    return {"index": index, "text": "", "logprobs": None, "finish_reason": reason}


def _unit_vector(seed: bytes, dims: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    del values[dims:]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]
