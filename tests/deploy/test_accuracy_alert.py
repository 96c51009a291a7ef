"""The accuracy alert: a version whose customers' mean feedback score over the last hour falls below
its own baseline by the configured margin fires TollgateAccuracyDrop (promtool's rule unit tests),
and the rules read only the feedback metric the gateway exports."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import CHART, DOCKER, tool
from tests.deploy.test_alerts import exported_series

ALERTS = CHART / "files" / "alerts.yml"


def accuracy_rules() -> list[dict[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules: list[dict[str, str]] = next(g["rules"] for g in groups if g["name"] == "tollgate-accuracy")
    return rules


def test_the_accuracy_alert_fires_on_a_drop_below_the_baseline_and_not_on_few_scores() -> None:
    tests = DOCKER / "prometheus" / "accuracy.test.yml"
    done = subprocess.run([tool("promtool"), "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_margin_is_one_recorded_number_and_the_means_read_the_exported_histogram() -> None:
    rules = {rule.get("record") or rule["alert"]: rule["expr"] for rule in accuracy_rules()}
    assert rules["tollgate:feedback_score_margin"] == "vector(0.1)"
    assert "scalar(tollgate:feedback_score_margin)" in rules["TollgateAccuracyDrop"]
    assert {"tollgate_feedback_score_sum", "tollgate_feedback_score_count"} <= exported_series()
