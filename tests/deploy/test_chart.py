"""The Helm chart, rendered by Helm's own engine and validated against Kubernetes' schemas; its vLLM
pools run the same server arguments as ``tollgate pool serve`` would, from the same config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from backends.vllm_launch import server_args
from gateway.settings import load_settings
from tests.deploy.conftest import CHART, DOCKER

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra) is not installed")

KUBERNETES = "1.30.0"
CUSTOM_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    files = chart.render(values, name="prod", namespace="ai", is_install=True)
    return [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def compose_config() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "tollgate-vllm.yaml").read_text()))


def test_the_chart_lints_clean() -> None:
    report = helm.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # 1 is INFO


@pytest.mark.parametrize("autoscaling", [True, False], ids=["autoscaled", "fixed"])
def test_every_built_in_object_is_valid_kubernetes(autoscaling: bool) -> None:
    values = {"autoscaling": {"enabled": autoscaling}, "vllm": {"autoscaling": {"enabled": autoscaling}}}
    docs = render(values)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "ConfigMap", "Job"} <= kinds
    assert ("HorizontalPodAutoscaler" in kinds, "ScaledObject" in kinds) == (autoscaling, autoscaling)
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_gateway_is_autoscaled_scraped_and_migrated_before_it_starts() -> None:
    docs = render()
    gateway = named(docs, "Deployment", "prod-tollgate")
    assert named(docs, "HorizontalPodAutoscaler", "prod-tollgate")["spec"]["scaleTargetRef"]["name"] == "prod-tollgate"
    monitor = named(docs, "ServiceMonitor", "prod-tollgate")
    service = named(docs, "Service", "prod-tollgate")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["spec"]["selector"].items()
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert gateway["spec"]["template"]["metadata"]["labels"].items() >= service["spec"]["selector"].items()
    job = named(docs, "Job", "prod-tollgate-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    secrets = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"TOLLGATE_DATABASE_URL", "TOLLGATE_REDIS_URL", "TOLLGATE_ADMIN_TOKEN", "TOLLGATE_METRICS_TOKEN"}
    # Prometheus scrapes /metrics with the very token the gateway asks for.
    (token,) = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if e["name"] == "TOLLGATE_METRICS_TOKEN"]
    assert monitor["spec"]["endpoints"][0]["authorization"] == {"type": "Bearer", "credentials": token}
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]


def test_metrics_can_be_left_open() -> None:
    docs = render({"metricsTokenKey": ""})
    container = named(docs, "Deployment", "prod-tollgate")["spec"]["template"]["spec"]["containers"][0]
    assert "TOLLGATE_METRICS_TOKEN" not in {e["name"] for e in container["env"]}
    assert "authorization" not in named(docs, "ServiceMonitor", "prod-tollgate")["spec"]["endpoints"][0]


def test_the_alert_rules_and_dashboard_ship_with_the_chart() -> None:
    docs = render()
    rules = named(docs, "PrometheusRule", "prod-tollgate")["spec"]["groups"][0]["rules"]
    assert {"TollgateHighP99Latency", "TollgateHighErrorRate", "TollgateReplicaDown"} <= {r["alert"] for r in rules}
    dashboard = named(docs, "ConfigMap", "prod-tollgate-dashboard")
    assert '"uid": "tollgate"' in dashboard["data"]["tollgate.json"]


def test_a_pool_is_declared_once_in_the_config_and_rendered_as_the_cli_runs_it(tmp_path: Path) -> None:
    """The compose stack's own config, handed to the chart: same pool, same vLLM arguments."""
    config = compose_config()
    config["backends"]["gpu-pool"]["launch"].update(
        tensor_parallel_size=2, gpus_per_replica=2, extra_args=["--seed", "7"]
    )
    docs = render({"config": config})
    pool = named(docs, "Deployment", "prod-tollgate-pool-gpu-pool")
    container = pool["spec"]["template"]["spec"]["containers"][0]
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    declared = load_settings(path, {"OPENAI_API_KEY": "x"}).backends["gpu-pool"].launch  # type: ignore[union-attr]
    assert declared is not None
    assert container["args"] == [*server_args(declared), "--host", "0.0.0.0", "--port", "8000"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 2}
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    scaler = named(docs, "ScaledObject", "prod-tollgate-pool-gpu-pool")
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert scaler["spec"]["scaleTargetRef"]["name"] == pool["metadata"]["name"]


def test_the_gateway_finds_each_pool_at_its_service(tmp_path: Path) -> None:
    docs = render({"config": compose_config()})
    rendered = yaml.safe_load(named(docs, "ConfigMap", "prod-tollgate")["data"]["tollgate.yaml"])
    service = named(docs, "Service", "prod-tollgate-pool-gpu-pool")
    assert rendered["backends"]["gpu-pool"]["urls"] == [f"http://{service['metadata']['name']}:8000/v1"]
    assert rendered["backends"]["openai"]["base_url"] == "https://api.openai.com/v1"  # other backends as given
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(rendered))
    load_settings(path, {"OPENAI_API_KEY": "x"})  # the gateway accepts what the chart gives it


def test_a_cpu_pool_requests_no_gpu() -> None:
    config = compose_config()
    config["backends"]["gpu-pool"]["launch"] = {"model": "/models/tiny", "gpus_per_replica": 0}
    pool = named(render({"config": config}), "Deployment", "prod-tollgate-pool-gpu-pool")
    container = pool["spec"]["template"]["spec"]["containers"][0]
    assert "limits" not in container["resources"] and "nvidia.com/gpu" not in container["resources"]["requests"]
    assert container["args"][container["args"].index("--tensor-parallel-size") + 1] == "1"
