"""``/metrics`` after known traffic, on a gateway running two worker processes: every scrape,
whichever worker answers it, reports all of the traffic, once; and each request left one JSON line."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GPT_FAKE_PRICES
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.support.gateway_process import create_key, running_gateway
from tests.support.scrape import Samples, scrape, value

OK, STREAMED, FAILED, RPM = 6, 3, 2, 12


@dataclass(frozen=True)
class Traffic:
    url: str
    workdir: Path
    key: str
    answered: int  # 200s, as the client saw them
    limited: int  # 429s from admission, as the client saw them


@pytest.fixture(scope="module")
def traffic(fake_openai: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    workdir = tmp_path_factory.mktemp("metrics")
    config: dict[str, Any] = {
        "backends": {"fake-openai": {"type": "openai_compatible", "base_url": fake_openai[1], "api_key": API_KEY}},
        "models": [
            {
                "name": "gpt-fake",
                "deployments": [{"backend": "fake-openai", "model": "gpt-up"}],
                "pricing": GPT_FAKE_PRICES,
            }
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "journal_dir": str(workdir / "journal"),
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": f"tollgate-test-metrics-{uuid.uuid4().hex[:8]}",
    }
    key = create_key(config, workdir, "metrics-co", "--rpm", str(RPM))
    multiproc = workdir / "prometheus"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    # Two workers start slowly on a busy two-core machine.
    with running_gateway(config, workdir, workers=2, env=env, ready_within=120) as url:
        answered, limited = send_known_traffic(url, key)
        yield Traffic(url, workdir, key, answered, limited)


def send_known_traffic(url: str, key: str) -> tuple[int, int]:
    """OK plain answers, STREAMED streams, FAILED upstream 503s (whose reservations are returned), one
    bad key, then more than the key's RPM allows. The limit refills continuously (one request per
    60/RPM seconds), so on a slow machine one more may pass: the client's own count is the truth."""
    auth = {"authorization": f"Bearer {key}"}
    chat = f"{url}/v1/chat/completions"
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hello"}]}
    with httpx.Client(timeout=30) as http:
        for _ in range(OK):
            assert http.post(chat, json=body, headers=auth).status_code == 200
        for _ in range(STREAMED):
            with http.stream("POST", chat, json={**body, "stream": True}, headers=auth) as response:
                assert response.status_code == 200 and response.read().endswith(b"[DONE]\n\n")
        failing = {**body, "messages": [{"role": "user", "content": "trigger:status:503"}]}
        for _ in range(FAILED):
            assert http.post(chat, json=failing, headers=auth).status_code == 503
        assert http.post(chat, json=body, headers={"authorization": "Bearer tg-not-a-key"}).status_code == 401
        statuses = [http.post(chat, json=body, headers=auth).status_code for _ in range(RPM - OK - STREAMED + 2)]
    assert set(statuses) == {200, 429}
    return OK + STREAMED + statuses.count(200), statuses.count(429)


def test_requests_are_counted_once_by_model_deployment_and_status(traffic: Traffic) -> None:
    url, answered = traffic.url, traffic.answered
    for _ in range(8):  # two workers: any of them may answer a scrape, each must report the whole server
        samples = scrape(url)
        labels = {"model": "gpt-fake", "deployment": "fake-openai"}
        assert value(samples, "tollgate_requests_total", **labels, status="200") == answered
        assert value(samples, "tollgate_requests_total", **labels, status="503") == FAILED
        assert value(samples, "tollgate_requests_total", model="", deployment="", status="401") == 1
        assert value(samples, "tollgate_requests_total", model="", deployment="", status="429") == traffic.limited
        assert value(samples, "tollgate_request_duration_seconds_count", **labels, status="200") == answered
        assert value(samples, "tollgate_request_duration_seconds_bucket", **labels, status="200", le="+Inf") == answered
        assert value(samples, "tollgate_time_to_first_token_seconds_count", **labels) == STREAMED
        assert value(samples, "tollgate_admission_rejections_total", reason="requests") == traffic.limited
        assert value(samples, "tollgate_overhead_seconds_count") == answered


def test_both_workers_served_and_share_one_view(traffic: Traffic) -> None:
    """Each worker keeps its values in files of its own; the scrape above summed them."""
    workers = {path.stem.rsplit("_", 1)[-1] for path in (traffic.workdir / "prometheus").glob("counter_*.db")}
    assert len(workers) == 2


def test_tokens_and_cost_add_up_to_what_was_metered(traffic: Traffic) -> None:
    samples = scrape(traffic.url)
    answered = traffic.answered
    # The fake answers 11 prompt and 7 completion tokens, priced 98 micro-dollars.
    assert value(samples, "tollgate_tokens_total", model="gpt-fake", direction="input") == 11 * answered
    assert value(samples, "tollgate_tokens_total", model="gpt-fake", direction="output") == 7 * answered
    assert value(samples, "tollgate_cost_usd_total", model="gpt-fake") == pytest.approx(answered * 0.000098)


def test_journal_drain_reports_what_it_stored_and_its_lag(traffic: Traffic) -> None:
    stored = traffic.answered + FAILED
    samples = wait_for(traffic.url, lambda s: value(s, "tollgate_journal_stored_events_total") == stored)
    assert value(samples, "tollgate_journal_stored_events_total") == stored
    assert value(samples, "tollgate_journal_lag_bytes") == 0


def test_histograms_put_latency_in_cumulative_buckets(traffic: Traffic) -> None:
    samples = scrape(traffic.url)
    labels = {"model": "gpt-fake", "deployment": "fake-openai", "status": "200"}
    bounds = sorted(
        (float(dict(key[1])["le"]), count)
        for key, count in samples.items()
        if key[0] == "tollgate_request_duration_seconds_bucket" and labels.items() <= dict(key[1]).items()
    )
    counts = [count for _, count in bounds]
    assert counts == sorted(counts) and counts[-1] == traffic.answered
    assert value(samples, "tollgate_request_duration_seconds_sum", **labels) > 0


def test_labels_never_carry_keys_or_request_ids(traffic: Traffic) -> None:
    url, key = traffic.url, traffic.key
    text = httpx.get(f"{url}/metrics").text
    assert key not in text and "req_" not in text and "metrics-co" not in text


def test_one_json_line_per_request_without_secrets(traffic: Traffic) -> None:
    workdir, key = traffic.workdir, traffic.key
    expected = traffic.answered + FAILED + 1 + traffic.limited
    deadline = time.monotonic() + 5  # each worker writes its lines out within a second
    while True:
        log = (workdir / "gateway.log").read_text()
        lines = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
        if len(lines) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert key not in log and "hello" not in log  # neither the key nor the prompt
    assert len(lines) == expected and len({line["request_id"] for line in lines}) == len(lines)
    ok = [line for line in lines if line["status"] == 200]
    assert len(ok) == traffic.answered
    first = ok[0]
    assert (first["customer"], first["model"], first["deployment"], first["cost_usd"]) == (
        "metrics-co",
        "gpt-fake",
        "fake-openai",
        "0.000098",
    )
    assert first["latency_ms"] > 0 and (first["input_tokens"], first["output_tokens"]) == (11, 7)
    refused = sorted((line["status"], line["error_code"]) for line in lines if line["outcome"] == "refused")
    assert refused == [(401, "invalid_api_key")] + [(429, "rate_limit_exceeded")] * traffic.limited


def wait_for(url: str, condition: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if condition(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)
