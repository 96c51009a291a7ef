"""A zero-latency OpenAI-compatible upstream, cheap enough to share two cores with a load generator.

It is a raw asyncio protocol, not a web framework: it answers ``POST /v1/chat/completions`` with one
fixed ``chat.completion``, or, when the body asks for ``"stream": true``, with a fixed SSE stream
(role chunk, a few content chunks, the finish chunk, the usage chunk and ``[DONE]``) in chunked
transfer encoding; and ``GET /v1/models`` with one model. Connections are kept alive.

Run it as ``python -m benchmarks.upstream --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from collections.abc import Sequence
from typing import cast

import msgspec

MODEL = "bench-model"
_CREATED = 1_700_000_000
_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
_HEADER_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": _CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the bench upstream."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
    }
    return _response("200 OK", "application/json", msgspec.json.encode(body))


def _stream() -> bytes:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED, "model": MODEL}
    deltas: list[dict[str, str]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word} for word in ("Hello", " from", " the", " bench", " upstream.")]
    events = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": _USAGE})
    frames = [b"data: " + msgspec.json.encode(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n"
    head_bytes = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )
    return head_bytes + chunked


def _models() -> bytes:
    body = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": _CREATED, "owned_by": "bench"}]}
    return _response("200 OK", "application/json", msgspec.json.encode(body))


class Answers(msgspec.Struct, frozen=True):
    """Every answer the upstream gives, encoded once."""

    completion: bytes
    stream: bytes
    models: bytes
    not_found: bytes
    bad_request: bytes


def build_answers() -> Answers:
    error = msgspec.json.encode({"error": {"message": "not found", "type": "invalid_request_error"}})
    bad = msgspec.json.encode({"error": {"message": "bad request", "type": "invalid_request_error"}})
    return Answers(
        completion=_completion(),
        stream=_stream(),
        models=_models(),
        not_found=_response("404 Not Found", "application/json", error),
        bad_request=_response("400 Bad Request", "application/json", bad),
    )


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order (pipelining works)."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        out: list[bytes] = []
        while True:
            answer = self._next_answer()
            if answer is None:
                break
            out.append(answer)
        if out and self._transport is not None:
            self._transport.write(b"".join(out))

    def _next_answer(self) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(_HEADER_END)
        if end < 0:
            if len(buffer) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return None
        head = buffer[:end].lower()
        length = _content_length(head)
        if length is None:
            self._buffer = b""
            return self._answers.bad_request
        total = end + 4 + length
        if len(buffer) < total:
            return None
        body = buffer[end + 4 : total]
        self._buffer = buffer[total:]
        return self._route(head, body)

    def _route(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"post /v1/chat/completions "):
            return self._answers.stream if _STREAM_FLAG.search(body) else self._answers.completion
        if head.startswith(b"get /v1/models "):
            return self._answers.models
        return self._answers.not_found


def _content_length(head: bytes) -> int | None:
    """The body length; ``None`` for chunked request bodies, which this upstream does not read."""
    if b"\r\ntransfer-encoding:" in head:
        return None
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + len(b"\r\ncontent-length:")
    stop = head.find(b"\r\n", start)
    return int(head[start : stop if stop >= 0 else len(head)])


async def start(host: str, port: int) -> asyncio.Server:
    """Bind and start serving; the caller owns the returned server."""
    loop = asyncio.get_running_loop()
    answers = build_answers()
    return await loop.create_server(lambda: UpstreamProtocol(answers), host, port, backlog=1024)


async def _main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await start(host, port)
    print(f"upstream listening on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(_main(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
