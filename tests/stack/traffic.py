"""Steady chat traffic (plain and streamed answers, alternating) from a few threads, recording the
request id of every answer that arrived whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx


def chat(url: str, key: str, prompt: str) -> httpx.Response:
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": prompt}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


@dataclass
class Traffic:
    answered: list[str] = field(default_factory=list)  # request ids of whole answers
    statuses: dict[int, int] = field(default_factory=dict)
    broken: int = 0  # connections that failed or answers cut short
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, client: httpx.Client, url: str, key: str, n: int) -> None:
        stream = n % 2 == 1
        body = {"model": "sim-chat", "messages": [{"role": "user", "content": f"load {n}"}], "stream": stream}
        whole, request_id, status = False, None, 0
        try:
            with client.stream(
                "POST", f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            ) as response:
                status, request_id = response.status_code, response.headers.get("x-request-id")
                text = response.read().decode()
                whole = status == 200 and (not stream or text.rstrip().endswith("data: [DONE]"))
        except httpx.HTTPError:
            pass
        with self.lock:
            self.sent += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if whole and request_id:
                self.answered.append(request_id)
            elif status in (0, 200):
                self.broken += 1


@contextmanager
def steady_traffic(url: str, key: str, threads: int = 4) -> Iterator[Traffic]:
    traffic, stop = Traffic(), threading.Event()

    def worker(index: int) -> None:
        n = index
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                traffic.one(client, url, key, n)
                n += threads

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    try:
        yield traffic
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
