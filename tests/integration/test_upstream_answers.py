"""Every upstream answer is billed, and a bad one is the upstream's fault, through a real gateway.

An answer without ``usage`` is counted with the tokenizer, priced and counted against the key's
TPM (it used to be billed $0 and settle no tokens); a 200 that is not an OpenAI-shaped answer is
retried and falls back like a 5xx, and without a fallback is a 502 ``upstream_invalid_response``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from backends.registry import BackendConfig
from gateway.tokens import Tokenizer
from tests.fakes.openai_server import API_KEY, WORDS
from tests.support.gateway_process import create_key, running_gateway
from tests.support.upstreams import Upstream, running_upstreams
from tests.support.usage_events import wait_for_event

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
PROMPT = [{"role": "user", "content": "Say hello."}]


def config(up: dict[str, Upstream], workdir: Path) -> dict[str, Any]:
    backends = {
        name: {"type": "openai_compatible", "base_url": u.base_url, "api_key": API_KEY} for name, u in up.items()
    }
    backends["impatient"] = {**backends["flaky"], "timeouts": {"first_token": 0.5}}
    return {
        "backends": backends,
        "models": [
            {"name": "impatient", "deployments": [{"backend": "impatient", "model": "m"}]},
            {"name": "patient", "deployments": [{"backend": "impatient", "model": "m"}], "first_token_timeout": 10},
            {"name": "flaky", "deployments": [{"backend": "flaky", "model": "m"}], "pricing": PRICES},
            {
                "name": "flaky-then-spare",
                "deployments": [{"backend": "flaky", "model": "m"}, {"backend": "spare", "model": "m"}],
                "pricing": PRICES,
            },
            {"name": "embed", "kind": "embeddings", "deployments": [{"backend": "flaky", "model": "e"}]},
        ],
        "routing": {"retry": {"attempts": 2, "backoff": 0.01}},
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(["flaky", "spare"], tmp_path_factory.mktemp("upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("answers")


@pytest.fixture(scope="module")
def gateway(upstreams: dict[str, Upstream], workdir: Path) -> Iterator[tuple[str, str, str]]:
    settings = config(upstreams, workdir)
    key = create_key(settings, workdir, "answers")
    limited = create_key(settings, workdir, "metered", "--tpm", "100")
    with running_gateway(settings, workdir) as url:
        yield url, key, limited


@pytest.fixture(autouse=True)
def no_faults(upstreams: dict[str, Upstream]) -> None:
    for upstream in upstreams.values():
        upstream.faults()


def ask(url: str, key: str, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": PROMPT, **extra}
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=20)


def test_an_answer_without_usage_is_counted_priced_and_billed(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream], workdir: Path
) -> None:
    url, key, _ = gateway
    upstreams["flaky"].faults(no_usage=True)
    answer = ask(url, key, "flaky")
    assert answer.status_code == 200, answer.text
    usage = answer.json()["usage"]
    tokens = Tokenizer()
    prompt = tokens.count_chat(PROMPT)
    completion = tokens.count("".join(WORDS))
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
    expected = (Decimal(prompt) * Decimal("2.50") + Decimal(completion) * Decimal("10.00")) / 1_000_000
    assert Decimal(answer.headers["x-tollgate-cost-usd"]) == pytest.approx(expected, abs=Decimal("0.000001"))
    event = wait_for_event(workdir / "tollgate.db", answer.headers["x-request-id"])
    assert (event["input_tokens"], event["output_tokens"]) == (prompt, completion)
    assert event["cost_micros"] > 0  # it was $0


def test_answers_without_usage_count_against_the_keys_tpm(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream]
) -> None:
    url, _, limited = gateway
    upstreams["flaky"].faults(no_usage=True)
    # Each request reserves its prompt and 10 answer tokens and settles at what it used (about 20):
    # five fit in 100 tokens a minute only if they settle at nothing.
    statuses = [ask(url, limited, "flaky", max_tokens=10).status_code for _ in range(6)]
    assert 429 in statuses
    assert statuses[:3] == [200, 200, 200]


def test_an_embedding_without_usage_is_counted(gateway: tuple[str, str, str], upstreams: dict[str, Upstream]) -> None:
    url, key, _ = gateway
    upstreams["flaky"].faults(no_usage=True)
    answer = httpx.post(
        f"{url}/v1/embeddings",
        json={"model": "embed", "input": "the sea at length"},
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert answer.status_code == 200
    assert answer.json()["usage"]["prompt_tokens"] == Tokenizer().count("the sea at length")


def test_an_answer_that_is_not_openai_shaped_is_retried_then_falls_back(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream]
) -> None:
    url, key, _ = gateway
    upstreams["flaky"].faults(invalid=1)
    before = upstreams["flaky"].requests()
    retried = ask(url, key, "flaky")
    assert retried.status_code == 200 and retried.json()["choices"][0]["message"]["content"]
    assert upstreams["flaky"].requests() == before + 2  # the bad answer was retried
    upstreams["flaky"].faults(invalid=100)
    fell_back = ask(url, key, "flaky-then-spare")
    assert fell_back.status_code == 200 and fell_back.headers["x-tollgate-backend"] == "spare"


def test_an_answer_that_is_not_openai_shaped_without_a_fallback_is_a_502(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream], workdir: Path
) -> None:
    url, key, _ = gateway
    upstreams["flaky"].faults(invalid=100)
    answer = ask(url, key, "flaky")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_invalid_response"
    event = wait_for_event(workdir / "tollgate.db", answer.headers["x-request-id"])
    assert (event["outcome"], event["cost_micros"]) == ("upstream_error", 0)


def test_every_backend_has_a_first_token_timeout_by_default() -> None:
    for entry in ({"type": "openai_compatible", "base_url": "http://x"}, {"type": "vllm", "urls": ["http://x"]}):
        backend = msgspec.convert(entry, BackendConfig)
        assert backend.timeouts.first_token == 120  # not read's ten minutes per try


def test_a_whole_answer_is_held_to_the_first_token_timeout_and_a_model_can_raise_it(
    gateway: tuple[str, str, str], upstreams: dict[str, Upstream]
) -> None:
    url, key, _ = gateway
    upstreams["flaky"].faults(slow=2)
    started = time.monotonic()
    hung = ask(url, key, "impatient")
    assert hung.status_code == 504 and hung.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2  # two tries of half a second, not the upstream's answer
    assert ask(url, key, "patient").status_code == 200  # its model gives it ten seconds
