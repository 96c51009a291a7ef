"""The Dockerfile, the compose stack, its load balancer and its Prometheus, checked by the tools
that will run them (no Docker engine here: the image itself is not built)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from backends.vllm_launch import server_args
from gateway.settings import load_settings
from tests.deploy.conftest import DOCKER, tool


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def test_the_dockerfile_passes_hadolint() -> None:
    done = run(tool("hadolint"), str(DOCKER / "Dockerfile"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_an_unprivileged_user_from_a_slim_stage() -> None:
    lines = (DOCKER / "Dockerfile").read_text().splitlines()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[-1].startswith("FROM python:3.11-slim")
    assert any(line.startswith("USER 10001") for line in lines)


def test_the_compose_file_follows_the_compose_spec() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DOCKER / "compose.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_gateways_behind_the_load_balancer_and_everything_around_them() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "lb", "vllm", "prometheus", "grafana"} <= set(services)
    gateways = sorted(name for name, s in services.items() if s.get("image") == "tollgate:latest" and name != "migrate")
    assert gateways == ["gateway-1", "gateway-2"]
    balanced = (DOCKER / "haproxy.cfg").read_text()
    assert all(f"server {name} {name}:8000" in balanced for name in gateways)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]


def test_the_compose_vllm_pool_runs_what_the_config_declares() -> None:
    launch = load_settings(DOCKER / "tollgate.yaml", {}).backends["gpu-pool"].launch  # type: ignore[union-attr]
    assert launch is not None
    command = [str(arg) for arg in compose()["services"]["vllm"]["command"]]
    assert command == [*server_args(launch), "--host", "0.0.0.0", "--port", "8000"]


def test_the_load_balancer_config_is_valid_haproxy() -> None:
    done = run(tool("haproxy"), "-c", "-f", str(DOCKER / "haproxy.cfg"))
    assert done.returncode == 0 and "Configuration file is valid" in done.stdout + done.stderr


def test_the_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(DOCKER / "helm" / "tollgate" / "files" / "alerts.yml")]  # where compose mounts it
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = run(tool("promtool"), "check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
