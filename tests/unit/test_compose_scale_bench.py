"""The stack scale-out benchmark (benchmarks/compose_scale.py) calls a count exact only when Postgres,
the metrics and the rate limit all agree with what the clients got, and its compose override and
HAProxy config are valid."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.compose_scale_report import StackExactness, StackResult, render
from benchmarks.load import Summary
from gateway.settings import load_settings
from tests.deploy.conftest import tool

ROOT = Path(__file__).resolve().parents[2]


def good() -> StackExactness:
    return StackExactness(
        answered=1000, rows=1000, distinct=1000, limit=30, burst=60, burst_ok=30, burst_limited=30,
        burst_rows=30, served=[520, 510],
    )  # fmt: skip


def test_exact_only_when_rows_ids_the_limit_and_the_metrics_agree_with_the_clients() -> None:
    assert good().exact
    wrong: list[dict[str, object]] = [
        {"rows": 999},  # a usage row lost
        {"rows": 1001, "distinct": 1000},  # one request metered twice
        {"burst_ok": 31, "burst_limited": 29},  # the limit let one more through across the gateways
        {"burst_rows": 29},
        {"served": [520, 509]},  # the metrics lost one
        {"served": [1030, 0]},  # one gateway served everything: nothing was spread
    ]
    for change in wrong:
        assert not dataclasses.replace(good(), **change).exact, change


def test_the_report_puts_the_command_first_and_exactness_before_throughput() -> None:
    load = Summary(requests=900, errors=0, rps=90.0, p50_ms=10.0, p99_ms=50.0, first_byte_p50_ms=math.nan,
                   first_byte_p99_ms=math.nan)  # fmt: skip
    cpu = {"gateways": 5.0, "haproxy": 1.0, "postgres": 0.5, "redis": 0.5, "load generator": 1.0}
    result = StackResult(2, load, 10.0, cpu, 0.9, (1.5, 3.0), good())
    started = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)
    report = render([result], "python -m benchmarks.compose_scale --gateways 2", 10, started, 2, 64)
    assert report.splitlines()[2].startswith("Command: `python -m benchmarks.compose_scale --gateways 2`")
    assert report.index("## Exactness") < report.index("## Throughput per gateway CPU")
    assert "| 2 | 1000 | 1000 | 1000 | 30 / 30 of 60 (30) | 30 | 1030 = 520 + 510 | yes |" in report
    assert "| 2 | 90 | 1.00 | 10.0 | 50.0 | 0 | 0.50 | 180 | 0.10 | 0.10 | 0.10 | 90% | 1.5 → 3.0 |" in report


def test_the_scale_haproxy_config_is_valid(tmp_path: Path) -> None:
    done = subprocess.run([tool("haproxy"), "-c", "-f", str(ROOT / "docker/haproxy-scale.cfg")],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_override_adds_two_gateways_with_their_own_journals() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (tools/docker_engine.sh install)")
    files = ["-f", "docker/compose.yaml", "-f", "docker/compose.scale.yaml"]
    env = {**os.environ, "TOLLGATE_CONFIG_FILE": "./tollgate-scale.yaml"}
    done = subprocess.run([compose, "-p", "tollgate-scale", *files, "config"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "journal-3:/var/lib/tollgate" in done.stdout and "journal-4:/var/lib/tollgate" in done.stdout
    services = subprocess.run([compose, "-p", "tollgate-scale", *files, "config", "--services"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert {"gateway-1", "gateway-2", "gateway-3", "gateway-4", "lb"} <= set(services.stdout.split())
    assert "haproxy-scale.cfg:/usr/local/etc/haproxy/haproxy.cfg" in done.stdout
    assert "/haproxy.cfg:/usr/local/etc/haproxy" not in done.stdout  # replaced, not mounted twice


def test_the_gateway_accepts_the_benchmark_config() -> None:
    settings = load_settings(ROOT / "docker/tollgate-scale.yaml", {})
    assert [model.name for model in settings.models] == ["bench-model"]
