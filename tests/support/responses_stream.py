"""Leaving a Responses stream part way, as a client that goes away does."""

from __future__ import annotations

import httpx


async def leave_after_two_words(url: str, key: str, model: str) -> str:
    """Stream ``model``'s answer to ``trigger:stall`` (the fake upstream stalls after two words) and
    leave once both have arrived; the request's id."""
    body = {"model": model, "stream": True, "input": "trigger:stall"}
    async with (
        httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as http,
        http.stream("POST", f"{url}/v1/responses", json=body) as response,
    ):
        deltas = 0
        async for line in response.aiter_lines():
            deltas += line == "event: response.output_text.delta"
            if deltas == 2:  # "Hello", " from": then we leave
                break
        return response.headers["x-request-id"]
