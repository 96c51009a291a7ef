"""An OpenAI-compatible embeddings upstream that serves one call at a time, as one GPU does.

Each call costs ``call_ms`` (plus ``input_ms`` per input) whatever its size, and waits for the call
before it: a batch of 64 inputs takes about as long as one. It answers ``POST /v1/embeddings`` in
OpenAI's wire format: ``input`` as a text, a token list or a list of either; ``dimensions``;
``encoding_format`` float or base64 (the little-endian float32 bytes); a usage that counts its own
tokens (one per four characters, rounded up: not the gateway's tokenizer); an input equal to
``BAD_INPUT`` is refused with OpenAI's 400 envelope for the whole call. Its vectors are float32-exact
and depend only on the input and ``dimensions``. ``GET /_stats`` says how many calls and inputs
it served; ``POST /_reset`` zeroes them.

Run it as ``python -m tests.fakes.serial_embedder --port P [--call-ms 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

BAD_INPUT = "this input is refused"
DEFAULT_DIMENSIONS = 8


@dataclass
class Counts:
    calls: int = 0
    inputs: int = 0


def vector(item: Any, dimensions: int) -> list[float]:
    """Float32-exact numbers (multiples of 1/256 below 1) of the input's digest."""
    seed = hashlib.sha256(repr((item, dimensions)).encode()).digest()
    return [((seed[i % 32] + i) % 256) / 256 for i in range(dimensions)]


def tokens_of(item: Any) -> int:
    return len(item) if isinstance(item, list) else max(1, math.ceil(len(str(item)) / 4))


def _items(value: Any) -> list[Any]:
    if isinstance(value, list) and value and not all(isinstance(i, int) for i in value):
        return value
    return [value]


def _error(message: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": "input", "code": None}}
    return web.json_response(body, status=400)


def app(call_ms: float = 20.0, input_ms: float = 0.0) -> web.Application:
    counts = Counts()
    one_at_a_time = asyncio.Lock()

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        items = _items(body.get("input"))
        dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
        async with one_at_a_time:
            counts.calls += 1
            counts.inputs += len(items)
            await asyncio.sleep((call_ms + input_ms * len(items)) / 1000)
        if BAD_INPUT in items:
            return _error(f"Input {items.index(BAD_INPUT)} is not accepted.")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(items):
            values = vector(item, dimensions)
            embedding: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *values)).decode() if as_base64 else values
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        used = sum(tokens_of(item) for item in items)
        usage = {"prompt_tokens": used, "total_tokens": used}
        return web.json_response({"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"calls": counts.calls, "inputs": counts.inputs})

    async def reset(_: web.Request) -> web.Response:
        counts.calls = counts.inputs = 0
        return web.json_response({})

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "embedder", "object": "model"}]})

    application = web.Application()
    application.add_routes(
        [
            web.post("/v1/embeddings", embeddings),
            web.get("/v1/models", models),
            web.get("/_stats", stats),
            web.post("/_reset", reset),
        ]
    )
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--call-ms", type=float, default=20.0)
    parser.add_argument("--input-ms", type=float, default=0.0)
    args = parser.parse_args()
    web.run_app(app(args.call_ms, args.input_ms), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
