"""The alert rules parse, fire when they should (promtool's rule unit tests), and, like the
dashboard, only use metrics that Tollgate (or vLLM) exports."""

from __future__ import annotations

import json
import re
import subprocess

import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import Metrics
from tests.deploy.conftest import CHART, DOCKER, tool

ALERTS = CHART / "files" / "alerts.yml"
DASHBOARD = CHART / "files" / "dashboards" / "tollgate.json"
METRIC = re.compile(r"\b(tollgate_[a-z_]+|vllm:[a-z_]+)")


def test_the_rules_are_valid() -> None:
    done = subprocess.run([tool("promtool"), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_fire_on_the_series_that_should_fire_them() -> None:
    tests = DOCKER / "prometheus" / "alerts.test.yml"
    done = subprocess.run([tool("promtool"), "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_cover_what_operators_are_paged_for() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {
        "TollgateHighP99Latency",
        "TollgateHighErrorRate",
        "TollgateReplicaDown",
        "TollgateBudgetNearlySpent",
        "TollgateJournalLag",
        "TollgateJournalDrainRestarting",
        "TollgateRedisUnreachable",
    } <= names


def exported_series() -> set[str]:
    metrics = Metrics()
    names = set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        kind = family.type
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
        names |= {family.name + suffix for suffix in suffixes}
    return names


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_series()
    used = set(METRIC.findall(ALERTS.read_text()))
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(METRIC.findall(target["expr"]))
    ours = {name for name in used if name.startswith("tollgate_")}
    assert ours and ours <= exported, sorted(ours - exported)
    assert {name for name in used if name.startswith("vllm:")} <= {
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
    }
