"""The semantic cache's judge (``cache.verifier``) through a running gateway: a chat model the gateway
routes to (a fake upstream that says yes or no deterministically) is asked about each candidate left;
a paraphrase it confirms is served, a trap it refuses is a miss, a judge too slow is a miss, and its
calls are journaled as the operator's (customer 0, cost 0, its serving cost priced), never on the
customer's usage."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.judge_server import judge_app
from tests.fakes.threaded import serve_in_thread
from tests.support.cache_client import CacheClient
from tests.support.gateway_process import create_key, running_gateway

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
# Both pass similarity (0.977, 0.967) and every guard: only the judge tells the opening time from the closing time.
CACHED = "What time does the pharmacy open on Saturday?"
PARAPHRASE = "When does the pharmacy open on Saturday?"
TRAP = "Until what time is the pharmacy open on Saturday?"


@dataclass
class Gateway(CacheClient):
    database: Path
    asked: list[dict[str, Any]]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("verifier")
    asked: list[dict[str, Any]] = []
    judged = {"semantic": True, "cross_encoder": False}
    with serve_in_thread(judge_app(asked)) as judge_url:
        settings = {
            "backends": {
                "sim": {"type": "simulator"},
                "judges": {"type": "openai_compatible", "base_url": f"{judge_url}/v1", "api_key": "sk-judge"},
            },
            "models": [
                {
                    "name": "judge",
                    "deployments": [{"backend": "judges", "model": "judge-1"}],
                    "pricing": PRICES,
                    "cost": {"input_per_mtok": "1.00", "output_per_mtok": "2.00"},
                },
                _model("judged", {**judged, "verifier": {"model": "judge"}}),
                _model("impatient", {**judged, "verifier": {"model": "judge", "timeout_seconds": 0.5}}),
            ],
            "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
            "admin_token": "admin-" + uuid.uuid4().hex,
        }
        key = create_key(settings, workdir, "acme")
        with running_gateway(settings, workdir) as url:
            yield Gateway(url, key, workdir / "tollgate.db", asked)


def _model(name: str, cache: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICES, "cache": cache}


def test_the_judge_serves_a_paraphrase_and_refuses_a_trap(gateway: Gateway) -> None:
    gateway.store("judged", CACHED)
    before = len(gateway.asked)
    trap = gateway.ask("judged", TRAP)
    assert trap.headers["x-tollgate-cache"] == "miss" and trap.headers["x-tollgate-backend"] == "sim"
    served = gateway.ask("judged", PARAPHRASE)
    assert served.headers["x-tollgate-cache"] == "semantic" and served.headers["x-tollgate-backend"] == "cache"
    assert len(gateway.asked) == before + 2  # asked about each candidate, once
    body = gateway.asked[-1]
    assert body["temperature"] == 0 and body["max_tokens"] == 2 and body["model"] == "judge-1"
    prompt = body["messages"][-1]["content"]
    assert CACHED in prompt and PARAPHRASE in prompt and "Answer A:" in prompt


def test_a_judge_that_answers_too_late_is_a_miss(gateway: Gateway) -> None:
    gateway.store("impatient", "What time does the library open on Monday, slowly?")
    before, started = len(gateway.asked), time.monotonic()
    late = gateway.ask("impatient", "When does the library open on Monday, slowly?")
    assert late.status_code == 200 and late.headers["x-tollgate-cache"] == "miss"
    assert len(gateway.asked) == before + 1  # the judge was asked, and not waited for
    assert time.monotonic() - started < 2.5  # the judge's 3 s answer was not waited for


def test_the_judges_calls_are_the_operators_never_the_customers(gateway: Gateway) -> None:
    gateway.store("judged", "What time does the bakery close on Friday?")
    assert gateway.ask("judged", "When does the bakery close on Friday?").headers["x-tollgate-cache"] == "semantic"
    deadline = time.monotonic() + 10
    while not (rows := _events(gateway.database, "judge")):
        assert time.monotonic() < deadline, "the judge's usage was never recorded"
        time.sleep(0.1)
    assert all(r["customer_id"] == 0 and r["api_key_id"] == 0 for r in rows)
    assert all(r["endpoint"] == "cache.verifier" and r["cost_micros"] == 0 and r["input_tokens"] == 80 for r in rows)
    assert all(r["serving_cost_micros"] == 82 for r in rows)  # 80 in at $1, 1 out at $2 per million: the operator's
    with sqlite3.connect(gateway.database) as connection:
        (acme,) = connection.execute("SELECT id FROM customers WHERE name = 'acme'").fetchone()
        theirs = connection.execute("SELECT DISTINCT model FROM usage_events WHERE customer_id = ?", (acme,))
        assert "judge" not in {model for (model,) in theirs}


def _events(database: Path, model: str) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM usage_events WHERE model = ?", (model,)).fetchall()
    return [dict(row) for row in rows]
