"""The chart's side of scale to zero: a pool with ``min_replicas: 0`` gets a KEDA ScaledObject that
scales it from zero on the gateways' ``tollgate_pool_pending_requests`` and back to zero after
``idle_after``; a pool in vLLM's sleep mode starts its servers as ``tollgate pool serve`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.vllm import VLLMConfig
from backends.vllm_launch import server_args, server_env
from gateway.settings import load_settings
from tests.deploy.conftest import CHART
from tests.deploy.test_chart import compose_config, full, named, render

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra) is not installed")

POOL = "prod-tollgate-pool-gpu-pool"


def scaled(**pool: Any) -> dict[str, Any]:
    config = compose_config()
    config["backends"]["gpu-pool"].update(pool)
    return config


def declared(config: dict[str, Any], tmp_path: Path) -> VLLMConfig:
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    pool = load_settings(path, {"OPENAI_API_KEY": "x"}).backends["gpu-pool"]
    assert isinstance(pool, VLLMConfig)
    return pool


@pytest.mark.parametrize(("idle_after", "seconds"), [("15m", 900), (90, 90), ("45s", 45), ("1h", 3600)])
def test_a_pool_at_zero_scales_from_the_gateways_demand(idle_after: Any, seconds: int, tmp_path: Path) -> None:
    config = scaled(min_replicas=0, idle_after=idle_after)
    scaler = named(render(full({"config": config})), "ScaledObject", POOL)["spec"]
    assert scaler["minReplicaCount"] == 0
    assert scaler["cooldownPeriod"] == seconds == declared(config, tmp_path).idle_seconds
    waiting, pending = scaler["triggers"]
    assert "vllm:num_requests_waiting" in waiting["metadata"]["query"]
    assert pending["type"] == "prometheus" and pending["metadata"]["activationThreshold"] == "0"
    query = pending["metadata"]["query"]
    assert 'tollgate_pool_pending_requests{namespace="ai",pool="gpu-pool"}' in query
    assert query.endswith("or vector(0)")  # no gateway scraped yet is no demand, not an error


def test_a_pool_that_does_not_sleep_keeps_its_floor_and_vllm_queue_trigger() -> None:
    scaler = named(render(full({"config": scaled(min_replicas=2)})), "ScaledObject", POOL)["spec"]
    assert scaler["minReplicaCount"] == 2 and scaler["cooldownPeriod"] == 600
    (trigger,) = scaler["triggers"]
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]


def test_sleep_mode_servers_start_as_pool_serve_starts_them(tmp_path: Path) -> None:
    config = scaled(min_replicas=0, idle_after="10m", sleep_mode=True)
    container = named(render(full({"config": config})), "Deployment", POOL)["spec"]["template"]["spec"]["containers"][0]
    launch = declared(config, tmp_path).launch
    assert launch is not None and launch.sleep_mode
    assert container["args"] == [*server_args(launch), "--host", "0.0.0.0", "--port", "8000"]
    assert "--enable-sleep-mode" in container["args"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert server_env(launch).items() <= env.items() and env["VLLM_SERVER_DEV_MODE"] == "1"


def test_the_chart_lints_clean_with_a_pool_at_zero() -> None:
    report = helm.lint(CHART, full({"config": scaled(min_replicas=0, idle_after="15m", sleep_mode=True)}), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # 1 is INFO
