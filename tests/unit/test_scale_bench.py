"""The scale-out benchmark calls a run exact only when every count agrees (rows, metrics, the rate
limit and the shared response cache), and its HAProxy config is valid."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from benchmarks.scale_report import CacheCheck, Exactness
from benchmarks.scale_stack import haproxy_config
from tests.deploy.conftest import tool

MISS, HIT = ("miss", 22, 0), ("hit", 0, 22)  # (cache_status, cost_micros, saved_micros)


def cache_check(**changes: object) -> CacheCheck:
    """Two gateways: one miss, then 8 hits, 4 served by each."""
    good = CacheCheck(sent=8, first="miss", hits=8, ok=9, rows=[MISS] + [HIT] * 8, hits_by_gateway=[4, 4])
    return dataclasses.replace(good, **changes)


def test_exact_only_when_rows_metrics_the_limit_and_the_cache_all_agree_with_the_clients() -> None:
    counts = {"limit": 30, "burst": 60, "burst_ok": 30, "burst_limited": 30, "metered_429": 30}
    good = Exactness(**counts, rows=139, metered_200=139, cache=cache_check(), answered=100)
    assert good.expected_rows == 100 + 30 + 9  # the cache check's answers are usage rows and 200s too
    assert good.exact
    changes: list[dict[str, object]] = [
        {"rows": 138},
        {"metered_200": 140},
        {"burst_ok": 31},
        {"metered_429": 29},
        {"cache": cache_check(hits=7)},
    ]
    for change in changes:
        assert not dataclasses.replace(good, **change).exact, change


def test_the_cache_is_exact_with_one_miss_and_every_repeat_a_priced_hit_from_every_gateway() -> None:
    assert cache_check().exact
    assert cache_check().cell() == "miss / 8 of 8 (2 of 2)"
    wrong: list[dict[str, object]] = [
        {"first": "hit"},  # an entry left by an earlier count
        {"hits": 7},
        {"ok": 8, "rows": [MISS] + [HIT] * 7},  # one repeat failed
        {"rows": [MISS] * 2 + [HIT] * 7},  # a replica missed what another stored
        {"rows": [MISS] + [HIT] * 7},  # a usage row lost
        {"rows": [MISS] + [HIT] * 7 + [("hit", 22, 0)]},  # a hit billed in full
        {"rows": [MISS] + [HIT] * 7 + [("hit", 1, 22)]},  # cost and saving add up to more than the price
        {"hits_by_gateway": [4, 3]},  # a hit not counted in the metrics
        {"hits_by_gateway": [8, 0]},  # one gateway served them all: nothing shared was shown
    ]
    for change in wrong:
        assert not cache_check(**change).exact, change


def test_the_cache_cell_names_the_usage_rows_only_when_they_disagree() -> None:
    assert cache_check(hits_by_gateway=[8, 0]).cell() == "miss / 8 of 8 (1 of 2)"
    lost = cache_check(rows=[MISS] + [HIT] * 6 + [("hit", 22, 0)])
    assert lost.cell() == "miss / 8 of 8 (2 of 2); rows 1 miss + 7 hit, 6 priced"


def test_the_load_balancer_config_is_valid_haproxy(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(18000, [18001, 18002, 18003, 18004]))
    done = subprocess.run([tool("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert config.read_text().count("server g") == 4
