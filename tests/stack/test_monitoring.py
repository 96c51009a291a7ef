"""Prometheus, as compose runs it: it scrapes both gateways and has loaded the alert rules."""

from __future__ import annotations

from typing import Any

import httpx

from tests.stack.stack import Stack, eventually


def prometheus(stack: Stack, path: str, **params: str) -> Any:
    response = httpx.get(f"{stack.prometheus}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def test_prometheus_scrapes_both_gateways_and_loads_the_alert_rules(stack: Stack) -> None:
    def both_up() -> bool:
        targets = prometheus(stack, "targets")["activeTargets"]
        up = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "tollgate" and t["health"] == "up"}
        return up == {"gateway-1:8000", "gateway-2:8000"}

    eventually(both_up, 60, "both gateways scraped")
    series = prometheus(stack, "query", query='count by (instance) ({job="tollgate", __name__=~"tollgate_.+"})')
    assert {s["metric"]["instance"] for s in series["result"]} == {"gateway-1:8000", "gateway-2:8000"}
    rules = [rule for group in prometheus(stack, "rules")["groups"] for rule in group["rules"]]
    names = {rule["name"] for rule in rules}
    assert {"TollgateHighP99Latency", "TollgateHighErrorRate", "TollgateReplicaDown", "TollgateJournalLag"} <= names
    assert {rule["health"] for rule in rules} <= {"ok", "unknown"}  # unknown: not evaluated yet
