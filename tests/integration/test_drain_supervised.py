"""The journal drain process of a real gateway killed with SIGKILL: ``/readyz`` says ``drain: down``
with the usage waiting in the journal, the gateway starts a new drain within seconds, a metric counts
the restart, and every request's usage reaches the database, once."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway_process import start_gateway, stop
from tests.support.scrape import scrape, value
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config


def drain_pids(parent: int) -> list[int]:
    """The gateway's multiprocessing children started with ``spawn`` (the drain; not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def until(condition: Callable[[], Any], timeout: float = 30, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(every)
    return result


def stored_events(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM usage_events").fetchone()[0])


def test_a_killed_drain_is_reported_restarted_and_loses_nothing(tmp_path: Path) -> None:
    url, gateway = start_gateway(sim_config(tmp_path), tmp_path)
    try:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
            key = add_customer(admin, "acme")
        client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30)
        body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        until(lambda: stored_events(tmp_path / "tollgate.db") == 1)
        [drain] = until(lambda: drain_pids(gateway.pid))

        os.kill(drain, signal.SIGKILL)
        for _ in range(3):  # served and journaled while nothing drains
            assert client.post("/v1/chat/completions", json=body).status_code == 200

        def reported_down() -> dict[str, Any] | None:
            ready = httpx.get(f"{url}/readyz", timeout=10)
            answer: dict[str, Any] = ready.json()
            return answer if ready.status_code == 200 and answer["usage_journal"]["drain"] == "down" else None

        down = until(reported_down, timeout=10)
        assert down["status"] == "degraded"
        assert down["usage_journal"]["lag_bytes"] > 0  # the three requests' usage, waiting
        assert any("drain" in reason for reason in down["reasons"])
        assert stored_events(tmp_path / "tollgate.db") == 1

        [restarted] = until(lambda: drain_pids(gateway.pid), timeout=30)
        assert restarted != drain
        until(lambda: stored_events(tmp_path / "tollgate.db") == 4, timeout=30)
        ready = until(lambda: (r := httpx.get(f"{url}/readyz", timeout=10).json())["status"] == "ready" and r)
        assert ready["usage_journal"] == {"writable": True, "drain": "ok", "lag_bytes": 0}
        metrics = scrape(url)
        assert value(metrics, "tollgate_journal_drain_restarts_total") == 1
        assert value(metrics, "tollgate_journal_drain_up") == 1
        client.close()
    finally:
        stop(gateway)
    assert stored_events(tmp_path / "tollgate.db") == 4  # nothing stored twice by the second drain
