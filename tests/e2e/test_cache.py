"""The response cache through a running gateway: what repeats are answered from it, for whom, at what
price, and how a hit looks to an OpenAI SDK, whole or streamed."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.gateway_process import create_key, running_gateway
from tests.support.scrape import scrape, value
from tests.support.usage_events import wait_for_event

TOKEN = "admin-" + uuid.uuid4().hex
PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _model(name: str, cache: dict[str, Any] | None) -> dict[str, Any]:
    model = {"name": name, "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICES}
    return model if cache is None else {**model, "cache": cache}


def config(workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            _model("cached", {"semantic": True}),
            _model("public-faq", {"shared_across_customers": True}),
            _model("plain", None),
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "admin_token": TOKEN,
        "price_poll_seconds": 0.2,
    }


@dataclass
class Gateway:
    url: str
    database: Path
    acme: str
    globex: str
    acme_limited: str
    acme_sampling: str  # a key whose sampled requests are cached, for one second
    acme_one_a_minute: str

    def ask(
        self, key: str, content: str, *, model: str = "cached", headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0, **params}
        auth = {"authorization": f"Bearer {key}", **(headers or {})}
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, headers=auth, timeout=10)

    def ask_until_cached(self, key: str, content: str, **options: Any) -> httpx.Response:
        """Answers are stored just after they are sent: ask again until the store has landed."""
        deadline = time.monotonic() + 3
        while True:
            answer = self.ask(key, content, **options)
            if answer.headers["x-tollgate-cache"] != "miss" or time.monotonic() > deadline:
                return answer
            time.sleep(0.05)

    def admin(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/admin{path}", json=body, headers={"authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("cache")
    settings = config(workdir)
    keys = [create_key(settings, workdir, c) for c in ("acme", "globex")]
    limited = create_key(settings, workdir, "acme", "--tpm", "300")
    sampling = create_key(settings, workdir, "acme", "--cache-ttl", "1", "--cache-nondeterministic")
    one_a_minute = create_key(settings, workdir, "acme", "--rpm", "1")
    with running_gateway(settings, workdir, env={"TOLLGATE_ADMIN_TOKEN": ""}) as url:
        yield Gateway(url, workdir / "tollgate.db", *keys, limited, sampling, one_a_minute)


def text(response: httpx.Response) -> str:
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def test_a_repeat_is_a_hit_metered_with_what_it_saved(gateway: Gateway) -> None:
    first = gateway.ask(gateway.acme, "How tall is the Eiffel Tower?")
    assert (first.headers["x-tollgate-cache"], first.headers["x-tollgate-backend"]) == ("miss", "sim")
    again = gateway.ask_until_cached(gateway.acme, "How tall is the Eiffel Tower?")
    assert (again.headers["x-tollgate-cache"], again.headers["x-tollgate-backend"]) == ("hit", "cache")
    assert text(again) == text(first) and again.json()["id"] != first.json()["id"]
    assert again.headers["x-tollgate-cost-usd"] == "0.000000" and "x-tollgate-cache-similarity" not in again.headers
    missed = wait_for_event(gateway.database, first.headers["x-request-id"])
    hit = wait_for_event(gateway.database, again.headers["x-request-id"])
    assert (hit["cache_status"], hit["deployment"], hit["outcome"]) == ("hit", "cache", "ok")
    assert (hit["cost_micros"], hit["saved_micros"]) == (0, missed["cost_micros"]) and missed["cost_micros"] > 0
    assert (hit["input_tokens"], hit["output_tokens"]) == (missed["input_tokens"], missed["output_tokens"])
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert re.search(r'tollgate_cache_lookups_total\{model="[^"]+",result="hit"\} [1-9]', metrics)
    assert re.search(r'tollgate_cache_savings_usd_total\{model="[^"]+"\} [0-9.e-]+', metrics)


def test_two_customers_never_share_an_entry(gateway: Gateway) -> None:
    question = "Which river flows through Vienna?"
    assert gateway.ask_until_cached(gateway.acme, question).headers["x-tollgate-cache"] == "hit"
    for asked in (question, "What river runs through Vienna?"):
        # no-store: globex's own answer to the first question must not answer its paraphrase.
        other = gateway.ask(gateway.globex, asked, headers={"cache-control": "no-store"})
        assert other.headers["x-tollgate-cache"] == "miss" and other.headers["x-tollgate-backend"] == "sim"
        assert "x-tollgate-cache-similarity" not in other.headers
    # A model configured to share its cache across customers does.
    gateway.ask(gateway.acme, question, model="public-faq")
    assert gateway.ask_until_cached(gateway.globex, question, model="public-faq").headers["x-tollgate-cache"] == "hit"


def test_a_paraphrase_is_a_semantic_hit_and_a_different_question_is_not(gateway: Gateway) -> None:
    first = gateway.ask(gateway.acme, "What is the capital of France?")
    # no-store: a miss while the answer lands must not keep the paraphrase's own answer (then an exact hit)
    paraphrase = gateway.ask_until_cached(
        gateway.acme, "What's the capital of France?", headers={"cache-control": "no-store"}
    )
    assert paraphrase.headers["x-tollgate-cache"] == "semantic" and text(paraphrase) == text(first)
    assert 0.85 <= float(paraphrase.headers["x-tollgate-cache-similarity"]) <= 1.0
    event = wait_for_event(gateway.database, paraphrase.headers["x-request-id"])
    assert event["cache_status"] == "semantic" and event["cost_micros"] == 0
    assert gateway.ask(gateway.acme, "What is the capital of Germany?").headers["x-tollgate-cache"] == "miss"
    # The same last turn after a different conversation is another scope.
    earlier = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What's the capital of France?"},
    ]
    assert gateway.ask(gateway.acme, "", messages=earlier).headers["x-tollgate-cache"] == "miss"


def test_the_openai_sdk_streams_a_replayed_hit(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.acme, max_retries=0)
    ask = {"role": "user", "content": "Name three primary colours."}

    def stream() -> tuple[str, list[Any]]:
        raw = client.chat.completions.with_raw_response.create(
            model="cached", messages=[ask], temperature=0, stream=True, stream_options={"include_usage": True}
        )
        return raw.headers["x-tollgate-cache"], list(raw.parse())

    status, upstream = stream()  # a miss, stored once the relay finished it
    deadline = time.monotonic() + 3
    while status == "miss" and time.monotonic() < deadline:
        time.sleep(0.05)
        status, replayed = stream()
    assert status == "hit"
    content = "".join(c.choices[0].delta.content or "" for c in replayed if c.choices)
    assert content == "".join(c.choices[0].delta.content or "" for c in upstream if c.choices)
    assert replayed[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in replayed if c.choices][-1] == "stop"
    usage = replayed[-1].usage
    assert usage is not None and usage.model_extra == {"cost": 0.0} and usage.completion_tokens > 0
    whole = client.chat.completions.create(model="cached", messages=[ask], temperature=0)  # type: ignore[list-item]
    assert whole.choices[0].message.content == content


def test_request_cache_controls(gateway: Gateway) -> None:
    question = "How many moons does Mars have?"
    stored_not = gateway.ask(gateway.acme, question, headers={"cache-control": "no-store"})
    time.sleep(0.3)
    assert stored_not.headers["x-tollgate-cache"] == "miss"
    assert gateway.ask(gateway.acme, question).headers["x-tollgate-cache"] == "miss"  # nothing was stored
    assert gateway.ask_until_cached(gateway.acme, question).headers["x-tollgate-cache"] == "hit"
    assert gateway.ask(gateway.acme, question, headers={"cache-control": "no-cache"}).headers["x-tollgate-cache"] == (
        "miss"
    )
    short = "How many moons does Jupiter have?"
    gateway.ask(gateway.acme, short, headers={"x-tollgate-cache-ttl": "1"})
    assert gateway.ask_until_cached(gateway.acme, short).headers["x-tollgate-cache"] == "hit"
    time.sleep(1.1)
    assert gateway.ask(gateway.acme, short, headers={"cache-control": "no-store"}).headers["x-tollgate-cache"] == "miss"
    bad = gateway.ask(gateway.acme, short, headers={"x-tollgate-cache-ttl": "forever"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-tollgate-cache-ttl"


@pytest.mark.parametrize(
    ("what", "options"),
    [
        ("sampled", {"temperature": 0.7}),
        ("cut by max_tokens", {"max_tokens": 2}),
        ("a tool call", {"tools": TOOLS, "tool_choice": "required"}),
        ("a model without a cache", {"model": "plain"}),
    ],
)
def test_only_deterministic_complete_answers_are_cached(gateway: Gateway, what: str, options: dict[str, Any]) -> None:
    question = f"Tell me about {what}."
    assert gateway.ask(gateway.acme, question, **options).headers["x-tollgate-cache"] == "miss"
    time.sleep(0.3)
    assert gateway.ask(gateway.acme, question, **options).headers["x-tollgate-cache"] == "miss"


def test_a_key_may_cache_sampled_requests_and_keep_answers_for_its_own_ttl(gateway: Gateway) -> None:
    question = "Write a haiku about autumn."
    assert gateway.ask(gateway.acme_sampling, question, temperature=0.9).headers["x-tollgate-cache"] == "miss"
    hit = gateway.ask_until_cached(gateway.acme_sampling, question, temperature=0.9)
    assert hit.headers["x-tollgate-cache"] == "hit"
    assert gateway.ask(gateway.acme, question, temperature=0.9).headers["x-tollgate-cache"] == "miss"  # not this key
    time.sleep(1.1)  # the key's TTL, shorter than the model's hour
    expired = gateway.ask(gateway.acme_sampling, question, temperature=0.9, headers={"cache-control": "no-store"})
    assert expired.headers["x-tollgate-cache"] == "miss"


def test_hits_do_not_use_up_the_token_rate(gateway: Gateway) -> None:
    """Each request reserves about 114 tokens of the key's 300 per minute; a hit gives them all back."""
    question = "Why is the sky blue?"
    assert gateway.ask(gateway.acme_limited, question, max_tokens=100).status_code == 200
    assert gateway.ask_until_cached(gateway.acme_limited, question, max_tokens=100).headers["x-tollgate-cache"] == "hit"
    answers = [gateway.ask(gateway.acme_limited, question, max_tokens=100) for _ in range(10)]
    assert [(a.status_code, a.headers["x-tollgate-cache"]) for a in answers] == [(200, "hit")] * 10


def test_the_admin_api_purges_by_customer_and_by_model(gateway: Gateway) -> None:
    question = "What is the boiling point of water?"
    for key in (gateway.acme, gateway.globex):
        gateway.ask(key, question)
        assert gateway.ask_until_cached(key, question).headers["x-tollgate-cache"] == "hit"
    purged = gateway.admin("/cache/purge", {"customer": "acme"})
    assert purged.status_code == 200 and purged.json()["purged"] >= 1
    assert gateway.ask(gateway.acme, question).headers["x-tollgate-cache"] == "miss"
    assert gateway.ask(gateway.globex, question).headers["x-tollgate-cache"] == "hit"
    assert gateway.admin("/cache/purge", {"model": "cached"}).json()["purged"] >= 1
    assert gateway.ask(gateway.globex, question).headers["x-tollgate-cache"] == "miss"
    assert gateway.admin("/cache/purge", {"customer": "nobody"}).status_code == 404
    assert gateway.admin("/cache/purge", {"model": "nope"}).json()["error"]["param"] == "model"


def test_what_a_hit_costs_follows_the_price_book(gateway: Gateway) -> None:
    models = [{"model": name, **PRICES} for name in ("cached", "public-faq", "plain")]
    assert gateway.admin("/prices", {"models": models, "cache_hit_percent": "25"}).status_code == 201
    time.sleep(0.6)  # every replica picks up the new version within price_poll_seconds
    question = "Who wrote Hamlet?"
    first = gateway.ask(gateway.acme, question)
    hit = gateway.ask_until_cached(gateway.acme, question)
    full = wait_for_event(gateway.database, first.headers["x-request-id"])["cost_micros"]
    event = wait_for_event(gateway.database, hit.headers["x-request-id"])
    assert (
        event["cost_micros"] == int(Decimal(full) / 4 + Decimal("0.5"))
        and event["saved_micros"] == full - event["cost_micros"]
    )
    assert hit.headers["x-tollgate-cost-usd"] == f"0.{event['cost_micros']:06d}"


def _lookups(gateway: Gateway) -> float:
    samples, results = scrape(gateway.url), ("hit", "semantic", "miss")
    return sum(value(samples, "tollgate_cache_lookups_total", model="cached", result=r) for r in results)


def test_a_refused_request_gets_no_cached_answer_and_counts_no_lookup(gateway: Gateway) -> None:
    question = "At what temperature does water boil at sea level?"
    assert gateway.ask_until_cached(gateway.acme, question).headers["x-tollgate-cache"] == "hit"
    before = _lookups(gateway)
    admitted = gateway.ask(gateway.acme_one_a_minute, question)  # the same customer: its entry
    refused = gateway.ask(gateway.acme_one_a_minute, question)
    assert (admitted.status_code, admitted.headers["x-tollgate-cache"]) == (200, "hit")
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "requests"
    assert "x-tollgate-cache" not in refused.headers or refused.headers["x-tollgate-cache"] == "miss"
    assert _lookups(gateway) == before + 1
