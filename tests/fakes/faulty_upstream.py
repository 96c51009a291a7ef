"""The fake OpenAI upstream as its own process, with faults switched on and off over HTTP.

Several of these make a pool of replicas (they also answer vLLM's ``/health`` and ``/metrics``) or
a set of providers; a test kills one with SIGKILL to lose a replica under load. Faults apply to
every request until changed (``slow``, ``fail`` and ``rate_limit`` to images and audio too),
unlike the fake's per-message triggers:

    POST /_faults {"slow": 2.0}            wait 2 s before answering
    POST /_faults {"fail": 5, "status": 500}  the next 5 requests answer 500
    POST /_faults {"rate_limit": 3, "retry_after": "1"}  the next 3 answer 429 with Retry-After
    POST /_faults {"stall": true}          streams go silent after two chunks
    POST /_faults {"malformed": true}      streams open with an event that is not JSON
    POST /_faults {"context_limit": 50}    prompts over 50 characters: 400 context_length_exceeded
    POST /_faults {"waiting": 4}           /metrics reports 4 requests waiting in the engine
    POST /_faults {"no_usage": true}       answers (not streams) without their ``usage``
    POST /_faults {"invalid": 2}           the next 2 answers (not streams): 200 {"choices": "nope"}
    POST /_faults {}                       all off
    GET  /_in_flight                       {"in_flight": n, "max_in_flight": most at once so far}
    GET  /_stats                           {"requests": n, "abandoned": n, "priorities": [...], "name": ...}

A client that disconnects while its request waits out ``slow`` is counted in ``abandoned``.

    python -m tests.fakes.faulty_upstream --port 8123 --name replica-a
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fakes.openai_server import FakeOpenAI, _http_error, error_body


class FaultyUpstream(FakeOpenAI):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.faults: dict[str, Any] = {}
        self.served = 0
        self.abandoned = 0
        self.priorities: list[Any] = []
        self.in_flight = self.max_in_flight = 0  # API requests being answered at once: now, and at most
        self.app.add_routes(
            [
                web.post("/_faults", self.set_faults),
                web.get("/_stats", self.stats),
                web.get("/_in_flight", self.in_flight_now),
                web.get("/health", self.health),
                web.get("/metrics", self.metrics),
            ]
        )
        self.app.middlewares.insert(0, self._count_in_flight)
        self.app.middlewares.append(self._media_faults)
        self.app.middlewares.append(self._answer_faults)

    async def set_faults(self, request: web.Request) -> web.Response:
        self.faults = await request.json()
        return web.json_response(self.faults)

    async def stats(self, request: web.Request) -> web.Response:
        stats = {"name": self.name, "requests": self.served, "abandoned": self.abandoned}
        return web.json_response({**stats, "priorities": self.priorities})

    async def in_flight_now(self, request: web.Request) -> web.Response:
        return web.json_response({"in_flight": self.in_flight, "max_in_flight": self.max_in_flight})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def metrics(self, request: web.Request) -> web.Response:
        waiting = float(self.faults.get("waiting", 0))
        text = (
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="fake"}} {waiting}\n'
            "# TYPE vllm:num_requests_running gauge\n"
            'vllm:num_requests_running{model_name="fake"} 0.0\n'
        )
        return web.Response(text=text, content_type="text/plain")

    async def _admit(self, request: web.Request) -> tuple[dict[str, Any], str]:
        body, trigger = await super()._admit(request)
        self.priorities.append(body.get("priority"))
        await self._answer_or_fail(request)
        limit = self.faults.get("context_limit")
        if limit is not None and len(json.dumps(body.get("messages") or body.get("prompt"))) > limit:
            raise _context_overflow(limit)
        return body, trigger

    async def _answer_or_fail(self, request: web.Request) -> None:
        """Count the request, then apply the faults every endpoint shares: slow, fail, rate_limit."""
        self.served += 1
        faults = self.faults
        await self._wait(request, float(faults.get("slow", 0)))
        if faults.get("fail", 0) > 0:
            faults["fail"] -= 1
            raise _http_error(int(faults.get("status", 500)), f"{self.name} is failing", "server_error")
        if faults.get("rate_limit", 0) > 0:
            faults["rate_limit"] -= 1
            headers = {"retry-after": str(faults.get("retry_after", "1"))}
            raise _http_error(429, f"{self.name}: rate limit reached", "requests", headers)

    async def _wait(self, request: web.Request, seconds: float) -> None:
        """Sleep ``seconds``, watching the connection: a client that leaves is counted, and not answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if request.transport is None or request.transport.is_closing():
                self.abandoned += 1
                raise web.HTTPServiceUnavailable(text="the client left")
            await asyncio.sleep(min(left, 0.05))

    @web.middleware
    async def _count_in_flight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``GET /_in_flight``: API requests being answered now and at most (a stream counts to its last byte)."""
        if not request.path.startswith("/v1/"):
            return await handler(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    @web.middleware
    async def _media_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The image and audio endpoints (``tests.fakes.openai_media``) take the same faults."""
        if request.path.startswith(("/v1/images/", "/v1/audio/")):
            await self._answer_or_fail(request)
        return await handler(request)

    @web.middleware
    async def _answer_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``no_usage`` and ``invalid``, on whole JSON answers (streams go by untouched)."""
        response = await handler(request)
        json_answer = isinstance(response, web.Response) and response.content_type == "application/json"
        if not (json_answer and request.path.startswith("/v1/")):
            return response
        if self.faults.get("invalid", 0) > 0 and response.status == 200:
            self.faults["invalid"] -= 1
            return web.json_response({"choices": "nope"})
        if self.faults.get("no_usage") and isinstance(response, web.Response) and isinstance(response.body, bytes):
            body = json.loads(response.body)
            body.pop("usage", None)
            return web.json_response(body)
        return response

    async def _stream(
        self, request: web.Request, body: dict[str, Any], trigger: str, *, chat: bool
    ) -> web.StreamResponse:
        if not (self.faults.get("stall") or self.faults.get("malformed")):
            return await super()._stream(request, body, trigger, chat=chat)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if self.faults.get("malformed"):
            await response.write(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
            return response
        for word in ("Hello", " there"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            chunk["choices"] = [{"index": 0, "delta": {"content": word}, "finish_reason": None}]
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await asyncio.sleep(3600)  # silence: no bytes at all, not even comments
        return response


def _context_overflow(limit: int) -> web.HTTPException:
    message = f"This model's maximum context length is {limit} tokens. However, you requested more."
    error = web.HTTPException(
        text=json.dumps(error_body(message, "invalid_request_error", "context_length_exceeded", "messages")),
        content_type="application/json",
    )
    error.set_status(400)
    return error


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="upstream")
    args = parser.parse_args()
    web.run_app(FaultyUpstream(args.name).app, host="127.0.0.1", port=args.port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
