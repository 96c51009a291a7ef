"""The scale-out benchmark calls a run exact only when every count agrees, and its HAProxy config is valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gateway.bench.scale_report import Exactness
from gateway.bench.scale_stack import haproxy_config
from tests.deploy.conftest import tool


def test_exact_only_when_rows_metrics_and_the_limit_all_agree_with_the_clients() -> None:
    good = Exactness(limit=30, burst=60, burst_ok=30, burst_limited=30, rows=130, metered_200=130, metered_429=30)
    good.answered = 100
    assert good.exact
    for field, wrong in (("rows", 129), ("metered_200", 131), ("burst_ok", 31), ("metered_429", 29)):
        off = Exactness(**{**good_fields(good), field: wrong})
        off.answered = 100
        assert not off.exact, field


def good_fields(e: Exactness) -> dict[str, int]:
    names = ("limit", "burst", "burst_ok", "burst_limited", "rows", "metered_200", "metered_429")
    return {name: getattr(e, name) for name in names}


def test_the_load_balancer_config_is_valid_haproxy(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(18000, [18001, 18002, 18003, 18004]))
    done = subprocess.run([tool("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert config.read_text().count("server g") == 4
