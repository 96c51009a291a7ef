"""The soak's traffic: a mix of request kinds, each answer remembered for the end-of-run accounting."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

# Weights of each kind of request in the mix.
MIX = {
    "chat": 30,
    "stream": 25,
    "stream_disconnect": 8,
    "embeddings": 12,
    "invalid": 8,
    "unknown_model": 5,
    "rate_limited": 12,
}


@dataclass
class Served:
    """A request the gateway answered with 200: it must have exactly one usage event."""

    request_id: str
    kind: str
    cost_usd: Decimal | None  # None where the client cannot know it (a stream it hung up on)


@dataclass
class Tally:
    served: list[Served] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)  # status -> count (never metered)

    def refuse(self, status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1


@dataclass(frozen=True)
class Keys:
    main: str
    limited: str  # a key with a small rpm, to draw 429s


def _prompt(rng: random.Random, repeat: bool) -> str:
    # Repeated prompts are what a response cache can hit; fresh ones always miss.
    return f"prompt {rng.randrange(20)}" if repeat else f"prompt {rng.random()}"


async def one_request(client: httpx.AsyncClient, keys: Keys, rng: random.Random, repeat: bool, tally: Tally) -> None:
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    auth = {"authorization": f"Bearer {keys.limited if kind == 'rate_limited' else keys.main}"}
    chat = {"model": "sim-chat", "messages": [{"role": "user", "content": _prompt(rng, repeat)}]}
    if kind in ("stream", "stream_disconnect"):
        await _stream(client, auth, chat, kind, tally)
        return
    if kind == "embeddings":
        path, body = "/v1/embeddings", {"model": "sim-embed", "input": _prompt(rng, repeat)}
    elif kind == "invalid":
        path, body = "/v1/chat/completions", {"model": "sim-chat", "messages": [{"role": "nobody"}]}
    elif kind == "unknown_model":
        path, body = "/v1/chat/completions", {**chat, "model": "no-such-model"}
    else:
        path, body = "/v1/chat/completions", chat
    answer = await client.post(path, json=body, headers=auth)
    if answer.status_code == 200:
        tally.served.append(
            Served(answer.headers["x-request-id"], kind, Decimal(answer.headers["x-tollgate-cost-usd"]))
        )
    else:
        tally.refuse(answer.status_code)


async def _stream(
    client: httpx.AsyncClient, auth: dict[str, str], chat: dict[str, object], kind: str, tally: Tally
) -> None:
    body = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=auth) as answer:
        if answer.status_code != 200:
            await answer.aread()
            tally.refuse(answer.status_code)
            return
        request_id, cost = answer.headers["x-request-id"], None
        async for line in answer.aiter_lines():
            if kind == "stream_disconnect":
                break  # hang up after the first line: the gateway meters what was sent
            if line.startswith("data: {"):
                usage = json.loads(line[6:]).get("usage")
                if usage and "cost" in usage:
                    cost = Decimal(str(usage["cost"]))
        tally.served.append(Served(request_id, kind, cost))


async def drive(url: str, keys: Keys, *, seconds: float, concurrency: int, repeat: bool, seed: int) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                await one_request(client, keys, rng, repeat, tally)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return tally
