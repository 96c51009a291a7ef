"""The Dockerfile, the compose stack, its load balancer and its Prometheus, checked by the tools
that will run them. The stack itself is built and run by `make stack-test` (tests/stack)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.vllm_launch import server_args
from gateway.settings import load_settings
from tests.deploy.conftest import DOCKER, tool


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "debian/Dockerfile"])
def test_the_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    done = run(tool("hadolint"), str(DOCKER / dockerfile))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_an_unprivileged_user_from_a_slim_stage() -> None:
    lines = (DOCKER / "Dockerfile").read_text().splitlines()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines
    assert len(stages) == 2 and stages[-1] == "FROM ${BASE_IMAGE}"
    assert any(line.startswith("USER 10001") for line in lines)


def test_the_image_installs_the_locked_versions_and_owns_its_journal_directory() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "pip install --constraint requirements.lock" in text
    # A named volume mounted on /var/lib/tollgate starts with the image's ownership of it.
    assert re.search(r"install -d -o 10001 -g 10001 /var/lib/tollgate /var/lib/tollgate/journal", text)
    journal = load_settings(DOCKER / "tollgate.yaml", {}).journal_dir
    assert journal.startswith("/var/lib/tollgate/")


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    ignored = (DOCKER.parent / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*"  # after its comment: everything out, then what is needed back in
    assert {"!gateway", "!backends", "!billing", "!migrations", "!requirements.lock", "!docker/ca"} <= set(ignored)


def test_the_compose_file_follows_the_compose_spec() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DOCKER / "compose.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_v1_reads_the_compose_file() -> None:
    """docker-compose 1.29 (the one Debian ships) rejects a top-level `name:`: the project comes from -p."""
    assert "name" not in compose()
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed (tools/docker_engine.sh install)")
    done = run("docker-compose", "-p", "tollgate", "-f", str(DOCKER / "compose.yaml"), "config", "-q")
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_gateways_behind_the_load_balancer_and_everything_around_them() -> None:
    services = compose()["services"]
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"postgres", "redis", "migrate", "gateway-1", "gateway-2", "lb", "prometheus"}
    assert services["vllm"]["profiles"] == ["vllm"] and services["grafana"]["profiles"] == ["grafana"]
    gateways = sorted(name for name, s in services.items() if "tollgate:latest" in s["image"] and name != "migrate")
    assert gateways == ["gateway-1", "gateway-2"]
    balanced = (DOCKER / "haproxy.cfg").read_text()
    assert all(f"server {name} {name}:8000" in balanced for name in gateways)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    journals = {name: [v for v in services[name]["volumes"] if v.endswith(":/var/lib/tollgate")] for name in gateways}
    assert journals == {"gateway-1": ["journal-1:/var/lib/tollgate"], "gateway-2": ["journal-2:/var/lib/tollgate"]}


def test_compose_leaves_a_stopping_gateway_its_shutdown_grace() -> None:
    """SIGTERM drains in-flight requests for shutdown_grace_seconds; compose must not SIGKILL sooner."""
    grace = load_settings(DOCKER / "tollgate.yaml", {}).shutdown_grace_seconds
    for name in ("gateway-1", "gateway-2"):
        stop = compose()["services"][name]["stop_grace_period"]
        assert stop.endswith("s") and float(stop[:-1]) > grace


def test_the_default_stack_serves_the_simulator_with_no_gpu_and_no_provider_key() -> None:
    settings = load_settings(DOCKER / "tollgate.yaml", {})
    assert {type(backend).__name__ for backend in settings.backends.values()} == {"SimulatorConfig"}
    assert "sim-chat" in {model.name for model in settings.models}
    published = compose()["services"]["lb"]["ports"]
    assert published == ["${STACK_BIND:-127.0.0.1}:${STACK_PORT:-8000}:8000"]


def test_the_compose_vllm_pool_runs_what_the_config_declares() -> None:
    launch = load_settings(DOCKER / "tollgate-vllm.yaml", {}).backends["gpu-pool"].launch  # type: ignore[union-attr]
    assert launch is not None
    command = [str(arg) for arg in compose()["services"]["vllm"]["command"]]
    assert command == [*server_args(launch), "--host", "0.0.0.0", "--port", "8000"]


def test_the_load_balancer_fits_an_open_files_limit_of_20000() -> None:
    """Each connection holds two descriptors (client, gateway); HAProxy refuses to start past the limit."""
    (maxconn,) = re.findall(r"^\s*maxconn (\d+)", (DOCKER / "haproxy.cfg").read_text(), re.MULTILINE)
    assert 2 * int(maxconn) + 1000 <= 20_000


def test_the_load_balancer_config_is_valid_haproxy() -> None:
    done = run(tool("haproxy"), "-c", "-f", str(DOCKER / "haproxy.cfg"))
    assert done.returncode == 0 and "Configuration file is valid" in done.stdout + done.stderr


def test_prometheus_scrapes_the_gateways_with_their_metrics_token() -> None:
    services = compose()["services"]
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "tollgate"]
    assert job["authorization"]["type"] == "Bearer"
    entrypoint = " ".join(services["prometheus"]["entrypoint"])
    assert f"> {job['authorization']['credentials_file']} " in entrypoint  # the file the scrape reads
    given = "${TOLLGATE_METRICS_TOKEN:-}"
    assert services["prometheus"]["environment"]["TOLLGATE_METRICS_TOKEN"] == given
    assert all(services[g]["environment"]["TOLLGATE_METRICS_TOKEN"] == given for g in ("gateway-1", "gateway-2"))


def test_the_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(DOCKER / "helm" / "tollgate" / "files" / "alerts.yml")]  # where compose mounts it
    (token,) = [job["authorization"] for job in config["scrape_configs"] if job["job_name"] == "tollgate"]
    token["credentials_file"] = str(tmp_path / "metrics-token")  # written by the container's entrypoint
    (tmp_path / "metrics-token").write_text("")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = run(tool("promtool"), "check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
