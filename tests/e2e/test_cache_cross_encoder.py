"""The semantic cache's cross-encoder through a running gateway (cache extra installed): a model that
reads both questions serves a rewording the guards alone would refuse and refuses a one-word trap; a
model with ``cross_encoder: false`` keeps similarity and all guards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cache_client import CacheClient
from tests.support.gateway_process import create_key, running_gateway

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
# A rewording that swaps one word for a synonym: the substitution guard vetoes it, the cross-encoder reads it.
CACHED_QUESTION = "How do I cancel my gym membership?"
REWORDED = "What's the way to end my gym membership?"
# One word changed: similarity rates it close (0.78), only the substitution guard or the cross-encoder sees it.
CACHED_POEM = "Write a haiku about the sea"
POEM_REWORDED = "Can you write me a haiku about the sea?"
OTHER_POEM = "Write a limerick about the sea"


def _model(name: str, cache: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICES, "cache": cache}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CacheClient]:
    workdir = tmp_path_factory.mktemp("cross-encoder")
    settings = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            _model("reading", {"semantic": True}),
            _model("similarity-only", {"semantic": True, "cross_encoder": False}),
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "admin_token": "admin-" + uuid.uuid4().hex,
    }
    key = create_key(settings, workdir, "acme")
    with running_gateway(settings, workdir) as url:
        yield CacheClient(url, key)


def test_a_rewording_the_guards_refuse_is_served_when_the_cross_encoder_reads_it(gateway: CacheClient) -> None:
    for model in ("reading", "similarity-only"):
        gateway.store(model, CACHED_QUESTION)
    served = gateway.ask("reading", REWORDED)
    assert served.headers["x-tollgate-cache"] == "semantic" and served.headers["x-tollgate-backend"] == "cache"
    assert gateway.ask("similarity-only", REWORDED).headers["x-tollgate-cache"] == "miss"


def test_a_one_word_trap_is_refused_and_a_rewording_of_the_same_question_served(gateway: CacheClient) -> None:
    gateway.store("reading", CACHED_POEM)
    refused = gateway.ask("reading", OTHER_POEM)
    assert refused.headers["x-tollgate-cache"] == "miss" and refused.headers["x-tollgate-backend"] == "sim"
    served = gateway.ask("reading", POEM_REWORDED)
    assert served.headers["x-tollgate-cache"] == "semantic"
    assert float(served.headers["x-tollgate-cache-similarity"]) >= 0.70
