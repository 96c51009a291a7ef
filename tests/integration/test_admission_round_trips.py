"""What a limited key's request costs in Redis traffic: its reservation and the response cache's exact
lookup leave the gateway in one write, and Redis reads them in one go.

Counted by the Redis server itself (``total_reads_processed`` of a private Redis that only the
gateway, and the counting, talk to).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.private_redis import private_redis

REQUESTS = 30
QUESTION = {"model": "cached", "messages": [{"role": "user", "content": "two and two?"}], "temperature": 0}


def _reads(port: int) -> int:
    """Socket reads Redis has served so far; this INFO is one more."""
    info = subprocess.run(["redis-cli", "-p", str(port), "info", "stats"], capture_output=True, text=True).stdout
    return int(next(line for line in info.splitlines() if line.startswith("total_reads_processed:")).split(":")[1])


def _config(tmp_path: Path, port: int) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": "cached", "deployments": [{"backend": "sim", "model": "sim"}], "cache": {"exact": True}}],
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
        "journal_dir": str(tmp_path / "journal"),
        "redis_url": f"redis://127.0.0.1:{port}/0",
    }


def test_a_limited_request_reserves_and_looks_up_in_one_round_trip(tmp_path: Path) -> None:
    port = free_port()
    settings = _config(tmp_path, port)
    key = create_key(settings, tmp_path, "trips-co", "--rpm", "100000", "--max-concurrency", "100")
    client = httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30)
    with private_redis(port), running_gateway(settings, tmp_path) as url, client as http:
        for _ in range(3):  # connected, scripts loaded, the answer stored
            assert http.post(f"{url}/v1/chat/completions", json=QUESTION).status_code == 200
        before = _reads(port)
        hits = [http.post(f"{url}/v1/chat/completions", json=QUESTION) for _ in range(REQUESTS)]
        reads = _reads(port) - before - 1
    assert [r.headers["x-tollgate-cache"] for r in hits] == ["hit"] * REQUESTS
    # Per request: reservation and lookup together, then the settlement. Sent one after the other,
    # they would be three.
    assert reads <= 2 * REQUESTS + 2, reads
