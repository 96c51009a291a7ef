"""A semantic cache whose embedder is an embeddings model the gateway serves itself (``cache.embedder:
{model: ...}``), called through its router and the model's micro-batcher: a question asked again is
found by its served vector (the simulator's hash vectors: the same text, the same vector), another
question is not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway_process import create_key, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    workdir = tmp_path_factory.mktemp("served-embedder")
    sim = [{"backend": "sim", "model": "sim"}]
    cache = {
        "exact": False,  # only the semantic index can answer
        "semantic": True,
        "cross_encoder": False,
        "embedder": {"model": "vectors", "dimensions": 384},
    }
    settings = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            {"name": "vectors", "kind": "embeddings", "deployments": sim, "batching": {"max_wait_ms": 5}},
            {"name": "chat", "deployments": sim, "cache": cache},
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }
    key = create_key(settings, workdir, "acme")
    with running_gateway(settings, workdir) as url:
        yield url, key


def _ask(gateway: tuple[str, str], content: str) -> httpx.Response:
    url, key = gateway
    body = {"model": "chat", "messages": [{"role": "user", "content": content}], "temperature": 0}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_a_question_asked_again_is_found_by_the_served_embedder(gateway: tuple[str, str]) -> None:
    question = "What time does the pharmacy open on Saturday?"
    assert _ask(gateway, question).headers["x-tollgate-cache"] == "miss"
    deadline = time.monotonic() + 5
    while (again := _ask(gateway, question)).headers["x-tollgate-cache"] != "semantic":
        assert time.monotonic() < deadline, "the served embedder never indexed the question"
        time.sleep(0.05)
    assert float(again.headers["x-tollgate-cache-similarity"]) > 0.999
    assert _ask(gateway, "When does the pharmacy open on Saturday?").headers["x-tollgate-cache"] == "miss"
