"""A prepaid customer with money left whose balance does not cover a request's worst case is told so:
the 402 gives the balance, the worst-case cost and the largest ``max_tokens`` that fits, and that
``max_tokens`` is admitted. With counters in this process and in Redis alike."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.gateway_process import create_key, running_gateway

# One micro-dollar per prompt token, ten per answer token.
PRICES = {"input_per_mtok": "1", "output_per_mtok": "10"}
FITS = re.compile(r"Send max_tokens (\d+) or less, or add credit\.")


@pytest.fixture(scope="module", params=["in-process", "redis"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("prepaid")
    config: dict[str, Any] = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICES}],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }
    if request.param == "redis":
        config |= {"redis_url": "redis://127.0.0.1:6379/0", "redis_namespace": f"t-{uuid.uuid4().hex[:8]}"}
    (workdir / "tollgate.yaml").write_text(yaml.safe_dump(config))
    with running_gateway(config, workdir) as url:
        yield url, workdir


def tollgate(workdir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "gateway", *args, "--config", str(workdir / "tollgate.yaml")]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60, cwd=workdir).stdout


def prepaid_key(workdir: Path, customer: str, usd: str | None) -> str:
    tollgate(workdir, "customers", "create", customer, "--prepaid")
    if usd is not None:
        tollgate(workdir, "credits", "add", "--customer", customer, "--usd", usd)
    config = yaml.safe_load((workdir / "tollgate.yaml").read_text())
    return create_key(config, workdir, customer)


def chat(url: str, key: str, max_tokens: int) -> httpx.Response:
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def test_the_402_gives_the_balance_the_worst_case_and_the_max_tokens_that_fits(gateway: tuple[str, Path]) -> None:
    url, workdir = gateway
    key = prepaid_key(workdir, "short-co", "0.01")  # 10,000 micro-dollars
    shown = tollgate(workdir, "credits", "show")

    refused = chat(url, key, 4096)
    error = refused.json()["error"]
    worst = re.search(r"worst case, \$(0\.\d+) \(its prompt and 4096 max_tokens\)\.", error["message"])
    fits = FITS.search(error["message"])
    assert worst is not None and fits is not None, error
    prompt_micros = round(float(worst.group(1)) * 1_000_000) - 4096 * 10
    largest = int(fits.group(1))

    assert (refused.status_code, error["code"], error["param"]) == (402, "insufficient_quota", "max_tokens")
    assert error["message"].startswith("This customer's prepaid balance, $0.01, does not cover this request's worst")
    assert "run out" not in error["message"] and "short-co" in shown and "0.010000" in shown
    assert 0 < prompt_micros < 100 and largest == (10_000 - prompt_micros) // 10
    assert chat(url, key, largest + 1).status_code == 402
    assert chat(url, key, largest).status_code == 200


def test_a_customer_with_nothing_left_has_run_out(gateway: tuple[str, Path]) -> None:
    url, workdir = gateway
    key = prepaid_key(workdir, "empty-co", None)

    refused = chat(url, key, 16)

    assert refused.status_code == 402
    assert refused.json()["error"]["message"] == "This customer has run out of its prepaid credits (balance $0.00)."
