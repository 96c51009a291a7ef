"""Replicas added and removed by reloading the config, without a restart and without dropping a
request; and a key's priority tier passed to a pool that schedules by priority."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway
from tests.support.upstreams import Upstream, running_upstreams

ADMIN = {"authorization": "Bearer admin-secret"}


def config(up: dict[str, Upstream], replicas: list[str], workdir: Path) -> dict[str, Any]:
    return {
        "backends": {
            "pool": {"type": "vllm", "urls": [up[n].base_url for n in replicas], "api_key": API_KEY},
            "tiered": {
                "type": "vllm",
                "urls": [up["tiered"].base_url],
                "api_key": API_KEY,
                "priority_scheduling": True,
            },
        },
        "models": [
            {"name": "m", "deployments": [{"backend": "pool", "model": "m"}]},
            {"name": "tiered", "deployments": [{"backend": "tiered", "model": "m"}]},
        ],
        "admin_token": "admin-secret",
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(["r1", "r2", "r3", "tiered"], tmp_path_factory.mktemp("upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reload-gateway")


@pytest.fixture(scope="module")
def gateway(upstreams: dict[str, Upstream], workdir: Path) -> Iterator[tuple[str, str]]:
    first = config(upstreams, ["r1", "r2"], workdir)
    key = create_key(first, workdir, "reload", "--priority", "3")
    with running_gateway(first, workdir) as url:
        yield url, key


def ask(gateway: tuple[str, str], model: str = "m") -> httpx.Response:
    url, key = gateway
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20)


def test_reload_adds_and_removes_replicas_without_dropping_requests_in_flight(
    gateway: tuple[str, str], upstreams: dict[str, Upstream], workdir: Path
) -> None:
    for name in ("r1", "r2"):
        upstreams[name].faults(slow=1.5)
    url, _ = gateway
    with concurrent.futures.ThreadPoolExecutor(4) as workers:
        in_flight = [workers.submit(ask, gateway) for _ in range(4)]
        time.sleep(0.5)
        (workdir / "tollgate.yaml").write_text(yaml.safe_dump(config(upstreams, ["r2", "r3"], workdir)))
        reloaded = httpx.post(f"{url}/admin/reload", headers=ADMIN, timeout=5)
        answers = [future.result() for future in in_flight]
    assert reloaded.status_code == 200
    assert reloaded.json()["added"] == [upstreams["r3"].base_url]
    assert reloaded.json()["removed"] == [upstreams["r1"].base_url]
    assert [a.status_code for a in answers] == [200] * 4  # the removed replica finished its share
    served_by_r1 = upstreams["r1"].requests()
    assert served_by_r1 >= 1
    upstreams["r2"].faults()
    for _ in range(6):
        assert ask(gateway).status_code == 200
    assert upstreams["r1"].requests() == served_by_r1
    assert upstreams["r3"].requests() >= 2
    pool = httpx.get(f"{url}/admin/routing", headers=ADMIN, timeout=5).json()["deployments"][0]
    assert [r["key"] for r in pool["replicas"]] == [upstreams["r2"].base_url, upstreams["r3"].base_url]


def test_a_bad_config_is_refused_and_changes_nothing(gateway: tuple[str, str], workdir: Path) -> None:
    url, _ = gateway
    path = workdir / "tollgate.yaml"
    good = path.read_text()
    path.write_text(good.replace("type: vllm", "type: tpu", 1))
    try:
        refused = httpx.post(f"{url}/admin/reload", headers=ADMIN, timeout=5)
    finally:
        path.write_text(good)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_config"
    assert "type" in refused.json()["error"]["message"]
    assert ask(gateway).status_code == 200


def test_the_key_priority_tier_reaches_a_pool_that_schedules_by_priority(
    gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    assert ask(gateway, "tiered").status_code == 200
    assert upstreams["tiered"].stats()["priorities"][-1] == 3
    assert ask(gateway, "m").status_code == 200
    # pools that do not schedule by priority never see the field (vLLM would refuse it)
    assert all(p is None for name in ("r1", "r2", "r3") for p in upstreams[name].stats()["priorities"])
