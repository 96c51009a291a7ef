"""A customer of a gateway with a response cache: asks, and stores an answer before the test goes on."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass
class CacheClient:
    url: str
    key: str

    def ask(self, model: str, content: str) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0}
        headers = {"authorization": f"Bearer {self.key}"}
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, headers=headers, timeout=20)

    def store(self, model: str, content: str) -> None:
        """Ask once and wait until the answer is stored (an exact repeat is a hit)."""
        assert self.ask(model, content).headers["x-tollgate-cache"] == "miss"
        deadline = time.monotonic() + 3
        while self.ask(model, content).headers["x-tollgate-cache"] != "hit":
            assert time.monotonic() < deadline, "the answer was never stored"
            time.sleep(0.05)
