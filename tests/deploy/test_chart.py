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


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def full(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """values-vllm.yaml (a GPU pool, KEDA, the Prometheus Operator) on a cluster that has their CRDs."""
    values = yaml.safe_load((CHART / "values-vllm.yaml").read_text())
    return merged(merged(values, {"assumeCRDs": True}), extra or {})


def test_the_chart_lints_clean() -> None:
    report = helm.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []  # 1 is INFO


@pytest.mark.parametrize("autoscaling", [True, False], ids=["autoscaled", "fixed"])
def test_every_built_in_object_is_valid_kubernetes(autoscaling: bool) -> None:
    values = {"autoscaling": {"enabled": autoscaling}, "vllm": {"autoscaling": {"enabled": autoscaling}}}
    docs = render(full(values))
    kinds = {doc["kind"] for doc in docs}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "Job"} <= kinds
    assert ("HorizontalPodAutoscaler" in kinds, "ScaledObject" in kinds) == (autoscaling, autoscaling)
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_gateway_is_autoscaled_scraped_and_migrated_before_it_starts() -> None:
    docs = render(full())
    gateway = named(docs, "StatefulSet", "prod-tollgate")
    target = named(docs, "HorizontalPodAutoscaler", "prod-tollgate")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", "prod-tollgate")
    monitor = named(docs, "ServiceMonitor", "prod-tollgate")
    service = named(docs, "Service", "prod-tollgate")
    scraped = [
        s
        for s in by_kind(docs, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert scraped == [service]  # not the StatefulSet's headless Service too: each pod scraped once
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
    docs = render(full({"metricsTokenKey": ""}))
    container = named(docs, "StatefulSet", "prod-tollgate")["spec"]["template"]["spec"]["containers"][0]
    assert "TOLLGATE_METRICS_TOKEN" not in {e["name"] for e in container["env"]}
    assert "authorization" not in named(docs, "ServiceMonitor", "prod-tollgate")["spec"]["endpoints"][0]


def test_the_alert_rules_and_dashboard_ship_with_the_chart() -> None:
    docs = render(full())
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
    docs = render(full({"config": config}))
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
    docs = render(full({"config": compose_config()}))
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
    pool = named(render(full({"config": config})), "Deployment", "prod-tollgate-pool-gpu-pool")
    container = pool["spec"]["template"]["spec"]["containers"][0]
    assert "limits" not in container["resources"] and "nvidia.com/gpu" not in container["resources"]["requests"]
    assert container["args"][container["args"].index("--tensor-parallel-size") + 1] == "1"


def test_the_defaults_install_on_a_plain_cluster(tmp_path: Path) -> None:
    """No Prometheus Operator, no KEDA, no GPU, no weights: only built-in kinds, all valid; the simulator."""
    docs = render()
    assert {doc["kind"] for doc in docs} <= {"StatefulSet", "Service", "ConfigMap", "Job", "HorizontalPodAutoscaler"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    path = tmp_path / "tollgate.yaml"
    path.write_text(named(docs, "ConfigMap", "prod-tollgate")["data"]["tollgate.yaml"])
    settings = load_settings(path, {})
    assert {type(b).__name__ for b in settings.backends.values()} == {"SimulatorConfig"}


def test_operator_and_keda_objects_render_only_where_the_cluster_serves_their_apis() -> None:
    """Turned on without the CRDs (helm sees no monitoring.coreos.com/v1, keda.sh/v1alpha1): left out."""
    docs = render(full({"assumeCRDs": False}))
    assert not {doc["kind"] for doc in docs} & CUSTOM_KINDS
    pool = named(docs, "Deployment", "prod-tollgate-pool-gpu-pool")
    assert pool["spec"]["replicas"] == 1  # without KEDA the pool keeps its declared replicas


def test_each_gateway_pod_keeps_its_journal_on_a_claim_of_its_own() -> None:
    docs = render()
    gateway = named(docs, "StatefulSet", "prod-tollgate")
    (claim,) = gateway["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "journal" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = gateway["spec"]["template"]["spec"]
    assert "journal" not in {volume["name"] for volume in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    config = yaml.safe_load(named(docs, "ConfigMap", "prod-tollgate")["data"]["tollgate.yaml"])
    assert config["journal_dir"].startswith(mounts["journal"] + "/")
    assert pod["securityContext"]["fsGroup"] == 10001  # a new volume is writable by the image's user
    headless = named(docs, "Service", gateway["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    ephemeral = named(render({"journal": {"persistence": {"enabled": False}}}), "StatefulSet", "prod-tollgate")
    assert "volumeClaimTemplates" not in ephemeral["spec"]
    assert {"name": "journal", "emptyDir": {}} in ephemeral["spec"]["template"]["spec"]["volumes"]


def test_the_models_volume_is_optional() -> None:
    def pool(values: dict[str, Any]) -> dict[str, Any]:
        spec = named(render(full(values)), "Deployment", "prod-tollgate-pool-gpu-pool")["spec"]["template"]["spec"]
        return dict(spec)

    with_claim = pool({})
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} in with_claim[
        "volumes"
    ]
    without = pool({"vllm": {"modelsClaim": ""}})
    assert "models" not in {volume["name"] for volume in without["volumes"]}
    assert "HF_HUB_OFFLINE" not in {env["name"] for env in without["containers"][0].get("env", [])}
    kubernetes_validate.validate(  # the pool without the claim is still a valid Deployment
        named(render(full({"vllm": {"modelsClaim": ""}})), "Deployment", "prod-tollgate-pool-gpu-pool"),
        KUBERNETES,
        strict=True,
    )
