"""What ``/readyz`` and ``/metrics`` tell whom: the backends' names only to the admin token, the metrics
only to the metrics token when one is configured; the overall status to everyone."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, SimGateway, sim_config

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def test_readyz_names_the_backends_to_the_admin_token_only(sim_gateway: SimGateway) -> None:
    strangers = [{}, {"authorization": f"Bearer {sim_gateway.keys['alice']}"}, {"authorization": "Bearer wrong"}]
    for headers in strangers:
        ready = httpx.get(f"{sim_gateway.url}/readyz", headers=headers, timeout=30)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert "backends" not in ready.json() and '"sim"' not in ready.text
    admin = httpx.get(f"{sim_gateway.url}/readyz", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    assert admin.json()["backends"] == {"sim": "ok"}


def test_metrics_answer_only_the_metrics_token_when_one_is_set(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path, metrics_token=METRICS_TOKEN), tmp_path) as url:
        for headers in ({}, {"authorization": f"Bearer {ADMIN_TOKEN}"}, {"authorization": f"Basic {METRICS_TOKEN}"}):
            refused = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_metrics_token"
            assert "tollgate_" not in refused.text
        scraped = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)
        assert scraped.status_code == 200 and "tollgate_journal_drain_up" in scraped.text
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200  # probes need no token
        assert httpx.get(f"{url}/readyz", timeout=30).json()["status"] == "ready"


def test_the_metrics_token_can_come_from_the_environment(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path), tmp_path, env={"TOLLGATE_METRICS_TOKEN": METRICS_TOKEN}) as url:
        assert httpx.get(f"{url}/metrics", timeout=30).status_code == 401
        authorized = {"authorization": f"Bearer {METRICS_TOKEN}"}
        assert httpx.get(f"{url}/metrics", headers=authorized, timeout=30).status_code == 200
