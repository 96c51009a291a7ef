"""A request its client abandons gives everything back, and SIGTERM drains within a bounded grace.

A real gateway in front of a real fake upstream process that is slow to answer: the client walks
away (its read timeout) before the first byte. The upstream must see the connection closed, the
key (one request at a time) must be admitted again at once, and the request metered exactly once,
with its prompt (what the upstream had been sent) and no answer.
"""

from __future__ import annotations

import concurrent.futures
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway, start_gateway, stop
from tests.support.upstreams import Upstream, running_upstreams

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
PROMPT = [{"role": "user", "content": "Tell me about the sea, at length."}]


def config(up: dict[str, Upstream], workdir: Path, **extra: Any) -> dict[str, Any]:
    backends = {
        name: {"type": "openai_compatible", "base_url": u.base_url, "api_key": API_KEY} for name, u in up.items()
    }
    models = [{"name": name, "deployments": [{"backend": name, "model": "m"}], "pricing": PRICES} for name in up]
    image = {"per_image": {"256x256": "0.016"}}
    models.append(
        {"name": "slow-image", "kind": "image", "deployments": [{"backend": "slow", "model": "i"}], "pricing": image}
    )
    # One request at a time on the slow upstream; the next waits in the gateway's queue.
    backends["one-at-a-time"] = {
        "type": "vllm",
        "urls": [up["slow"].base_url],
        "api_key": API_KEY,
        "max_outstanding": 1,
    }
    models.append({"name": "queued", "deployments": [{"backend": "one-at-a-time", "model": "m"}], "pricing": PRICES})
    database = f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}"
    return {"backends": backends, "models": models, "database_url": database, **extra}


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(["slow", "quick", "stalled"], tmp_path_factory.mktemp("upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("abandoned")


@pytest.fixture(scope="module")
def gateway(upstreams: dict[str, Upstream], workdir: Path) -> Iterator[tuple[str, str, str]]:
    """The gateway's URL, a key limited to one request at a time, and a key without limits."""
    settings = config(upstreams, workdir)
    key = create_key(settings, workdir, "walker", "--max-concurrency", "1")
    unlimited = create_key(settings, workdir, "runner")
    with running_gateway(settings, workdir) as url:
        yield url, key, unlimited


def events(database: Path, outcome: str) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM usage_events WHERE outcome = ?", (outcome,)).fetchall()
    return [dict(row) for row in rows]


def wait_for(predicate: Any, within: float) -> float:
    """Seconds until ``predicate()`` held; fails after ``within``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < within, "not within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def abandon(url: str, key: str, endpoint: str) -> None:
    """Send a request and walk away after half a second, before any byte of the answer."""
    path, body = REQUESTS[endpoint]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}{path}", json=body, headers={"authorization": f"Bearer {key}"}, timeout=0.5)


REQUESTS = {
    "whole answer": ("/v1/chat/completions", {"model": "slow", "messages": PROMPT}),
    "stream before its first token": ("/v1/chat/completions", {"model": "slow", "messages": PROMPT, "stream": True}),
    "image": ("/v1/images/generations", {"model": "slow-image", "prompt": "the sea", "size": "256x256"}),
}


def admitted(url: str, key: str) -> bool:
    body = {"model": "quick", "messages": PROMPT}
    answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20)
    assert answer.status_code in (200, 429), answer.text
    return answer.status_code == 200


@pytest.mark.parametrize("endpoint", list(REQUESTS))
def test_a_client_that_leaves_cancels_the_upstream_call_and_frees_its_key(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream], workdir: Path, endpoint: str
) -> None:
    url, key, _ = gateway
    slow = upstreams["slow"]
    slow.faults(slow=60)
    before = slow.stats()["abandoned"]
    billed_before = len(events(workdir / "tollgate.db", "client_disconnect"))
    abandon(url, key, endpoint)
    left = time.monotonic()
    # The upstream saw its connection closed (it used to answer, to no one, a minute later) ...
    wait_for(lambda: slow.stats()["abandoned"] == before + 1, within=5)
    # ... and the key, limited to one request at a time, is admitted again (it stayed refused 15 s+).
    wait_for(lambda: admitted(url, key), within=5)
    assert time.monotonic() - left < 3
    # Metered once: what the upstream had been sent (a prompt; an image asked for), and no answer.
    wait_for(lambda: len(events(workdir / "tollgate.db", "client_disconnect")) == billed_before + 1, within=10)
    event = events(workdir / "tollgate.db", "client_disconnect")[-1]
    assert (event["model"], event["status"]) == (REQUESTS[endpoint][1]["model"], 499)
    assert event["streamed"] == bool(REQUESTS[endpoint][1].get("stream"))
    if endpoint == "image":
        assert (event["images"], event["cost_micros"]) == (1, 16_000)
    else:
        assert event["input_tokens"] > 0 and event["output_tokens"] == 0 and event["cost_micros"] > 0
        assert event["deployment"] == "slow"
    time.sleep(1)
    assert len(events(workdir / "tollgate.db", "client_disconnect")) == billed_before + 1


def test_a_request_that_leaves_the_queue_before_it_was_sent_is_billed_nothing(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream], workdir: Path
) -> None:
    url, _, key = gateway
    slow = upstreams["slow"]
    slow.faults(slow=60)
    served, billed_before = slow.requests(), len(events(workdir / "tollgate.db", "client_disconnect"))
    body = {"model": "queued", "messages": PROMPT}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            httpx.post, f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=3
        )
        wait_for(lambda: slow.requests() == served + 1, within=5)  # the first holds the only place
        with pytest.raises(httpx.ReadTimeout):  # the second waits in the queue, and leaves
            httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=0.5)
        with pytest.raises(httpx.ReadTimeout):
            first.result()
    wait_for(lambda: len(events(workdir / "tollgate.db", "client_disconnect")) == billed_before + 2, within=10)
    queued, sent = sorted(events(workdir / "tollgate.db", "client_disconnect")[-2:], key=lambda e: e["cost_micros"])
    assert (queued["deployment"], queued["input_tokens"], queued["cost_micros"]) == (None, 0, 0)
    assert sent["deployment"] == "one-at-a-time" and sent["cost_micros"] > 0
    assert slow.requests() == served + 1  # the second never reached the upstream


def test_sigterm_lets_short_requests_finish_and_cancels_the_rest_after_the_grace(
    upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    settings = config(upstreams, tmp_path, shutdown_grace_seconds=3)
    key = create_key(settings, tmp_path, "draining")
    upstreams["slow"].faults(slow=120)
    upstreams["quick"].faults(slow=1)
    upstreams["stalled"].faults(stall=True)  # a stream that goes silent after its first two chunks
    abandoned = upstreams["slow"].stats()["abandoned"]
    url, process = start_gateway(settings, tmp_path)
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = {
                model: pool.submit(
                    httpx.post,
                    f"{url}/v1/chat/completions",
                    json={"model": model, "messages": PROMPT, "stream": model == "stalled"},
                    headers={"authorization": f"Bearer {key}"},
                    timeout=60,
                )
                for model in ("quick", "slow", "stalled")
            }
            time.sleep(0.5)  # all three are with their upstreams
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            took = time.monotonic() - signalled
            quick, slow, stalled = (answers[model].result() for model in ("quick", "slow", "stalled"))
    finally:
        if process.poll() is None:
            stop(process)
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    assert quick.status_code == 200  # finished within the grace
    assert slow.status_code == 503 and slow.json()["error"]["code"] == "shutting_down"
    # The stream begun ends with an error event the SDKs raise, not as if its answer were whole.
    assert stalled.status_code == 200 and '"Hello"' in stalled.text
    assert stalled.text.rstrip().endswith('"code":"shutting_down"}}') and "[DONE]" not in stalled.text
    assert 3 <= took < 15  # the grace, then out: not the upstream's two minutes
    # Cut by the gateway, not by their clients: recorded as the 503s they were answered with, at no
    # cost (the stream's words so far and the slow request's prompt counted, not charged).
    cut = {event["model"]: event for event in events(tmp_path / "tollgate.db", "gateway_error")}
    assert sorted(cut) == ["slow", "stalled"]
    assert {(event["status"], event["cost_micros"]) for event in cut.values()} == {(503, 0)}
    assert cut["stalled"]["output_tokens"] > 0 and cut["slow"]["input_tokens"] > 0
    assert not events(tmp_path / "tollgate.db", "client_disconnect")
    wait_for(lambda: upstreams["slow"].stats()["abandoned"] == abandoned + 1, within=5)
