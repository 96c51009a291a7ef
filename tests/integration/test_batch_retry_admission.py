"""A batch line refused upstream and tried again gives back each failed try's reservation, as an
interactive request refused upstream does: the key's budget counter and concurrency leases in Redis
end holding what the answer cost, and nothing for the tries that failed."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import openai

from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.private_redis import private_redis
from tests.support.upstreams import running_upstreams


def _redis(port: int, *command: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *command], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _config(tmp_path: Path, replica_url: str, redis_port: int) -> dict[str, Any]:
    return {
        "backends": {"pool": {"type": "vllm", "urls": [replica_url], "api_key": API_KEY}},
        "models": [
            {
                "name": "m",
                "deployments": [{"backend": "pool", "model": "m"}],
                "pricing": {"input_per_mtok": "100", "output_per_mtok": "300"},
            }
        ],
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
        "journal_dir": str(tmp_path / "journal"),
        "redis_url": f"redis://127.0.0.1:{redis_port}/0",
        "batches": {"poll_seconds": 0.2, "retry_seconds": 0.2, "max_attempts": 5},
    }


def _finished(sdk: openai.OpenAI, batch_id: str) -> Any:
    deadline = time.monotonic() + 60
    while (batch := sdk.batches.retrieve(batch_id)).status != "completed":
        assert time.monotonic() < deadline, batch.status
        time.sleep(0.2)
    return batch


def test_a_retried_line_leaves_no_reservation_of_its_failed_tries(tmp_path: Path) -> None:
    port = free_port()
    with running_upstreams(["replica"], tmp_path) as upstreams, private_redis(port):
        replica = upstreams["replica"]
        settings = _config(tmp_path, replica.base_url, port)
        key = create_key(settings, tmp_path, "retry-co", "--budget-usd", "100", "--max-concurrency", "5")
        with running_gateway(settings, tmp_path) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            line = {
                "custom_id": "only",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 500},
            }
            uploaded = sdk.files.create(file=("in.jsonl", io.BytesIO(json.dumps(line).encode())), purpose="batch")
            replica.faults(fail=4, status=503)  # the router's own tries, then the lane's
            batch = sdk.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            batch = _finished(sdk, batch.id)
            output = json.loads(sdk.files.content(batch.output_file_id or "").text)
            time.sleep(0.5)  # settlements leave in the background
            budgets = _redis(port, "--scan", "--pattern", "*budget*").split()
            leases = [k for k in _redis(port, "--scan", "--pattern", "*").split() if "conc" in k]
            held = [int(_redis(port, "get", k)) for k in budgets]
            leased = [int(_redis(port, "zcard", k)) for k in leases]
            asked = replica.requests()
    assert asked == 5, "four refusals (the router's tries and the lane's), then the answer"
    assert output["response"]["status_code"] == 200
    cost = round(float(output["response"]["body"]["usage"]["cost"]) * 1_000_000)
    assert cost > 0 and held == [cost], (held, cost)  # the answer's cost, no failed try's reservation
    assert sum(leased) == 0, leased
