"""Two gateway processes sharing a database and Redis: a key revoked on one is refused by the other
within a second, through Redis pub/sub (the database poll is set far slower, so it cannot help)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway_process import create_key, running_gateway

ADMIN = "admin-secret"


def replica_config(database_url: str, workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}]}],
        "database_url": database_url,
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_namespace": f"tollgate-test-{workdir.name}-{uuid.uuid4().hex[:8]}",
        "admin_token": ADMIN,
        "key_poll_seconds": 60,
        "journal_dir": str(workdir / "journal"),
    }


async def test_revocation_reaches_the_other_replica_within_a_second(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = replica_config(database_url, tmp_path)
    key = await asyncio.to_thread(create_key, config, tmp_path, "replicated-co")
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    with running_gateway(config, tmp_path / "a") as first, running_gateway(config, tmp_path / "b") as second:
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {key}"}) as http:
            for url in (first, second):  # both replicas now hold the key in memory
                assert (await http.post(f"{url}/v1/chat/completions", json=body)).status_code == 200
            revoked = await http.post(
                f"{first}/admin/keys/{key[:10]}/revoke", headers={"authorization": f"Bearer {ADMIN}"}
            )
            assert revoked.status_code == 200, revoked.text
            started = time.monotonic()
            while (await http.post(f"{second}/v1/chat/completions", json=body)).status_code == 200:
                assert time.monotonic() - started < 1.0, "the other replica still accepts the revoked key"
                await asyncio.sleep(0.01)
            refused = await http.post(f"{second}/v1/chat/completions", json=body)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
