"""A screenshot of a rollout's model page, for the docs: ``python -m tests.e2e.rollout_screenshot``.

Starts a gateway on a fresh Postgres database with a staged rollout of two simulator deployments,
sends chats and customers' feedback through it until the judge has moved the candidate through its
stages to a promotion, restores the previous version with the page's button, and saves
``docs/dashboard/rollout.png`` (or the file given).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.browser import chromium, sign_in
from tests.support.databases import migrated_database
from tests.support.gateway_process import create_key, running_gateway

TOKEN = "admin-" + uuid.uuid4().hex
SCORES = {"v2": 0.86, "v1": 0.84}  # the candidate a little better than the stable version


def config(database: str, workdir: Path) -> dict[str, Any]:
    rollout = {"backend": "v2", "model": "sim", "stages": [5, 25, 100], "stage_minutes": 0.1, "min_requests": 5}
    return {
        "backends": {"v1": {"type": "simulator"}, "v2": {"type": "simulator"}},
        "models": [
            {
                "name": "llama-chat",
                "deployments": [{"backend": "v1", "model": "sim"}],
                "rollout": rollout | {"latency_margin": 10, "min_feedback": 3},
            }
        ],
        "routing": {"rollout_interval": 0.2},
        "database_url": database,
        "admin_token": TOKEN,
        "journal_dir": str(workdir / "journal"),
    }


def drive(url: str, key: str, seconds: float) -> None:
    """Chats and a score for each answer, until the rollout is promoted (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=10) as client:
        while time.monotonic() < deadline:
            chat = client.post(
                "/v1/chat/completions", json={"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}]}
            )
            answered_by, request_id = chat.headers["x-tollgate-backend"], chat.headers["x-request-id"]
            for _ in range(20):  # until the journal has stored the answer's usage event
                given = client.post("/v1/feedback", json={"response_id": request_id, "score": SCORES[answered_by]})
                if given.status_code != 404:
                    break
                time.sleep(0.05)
            routing = client.get("/admin/routing", headers={"authorization": f"Bearer {TOKEN}"}).json()
            if routing["rollouts"][0]["state"] == "promoted":
                return


async def shoot(target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        async with migrated_database("postgres", workdir) as database:
            cfg = config(database, workdir)
            key = create_key(cfg, workdir, "acme")
            with running_gateway(cfg, workdir, env={"TOLLGATE_ADMIN_TOKEN": ""}) as url:
                await asyncio.to_thread(drive, url, key, 60)
                async with chromium() as browser:
                    page = await browser.new_page(viewport={"width": 1200, "height": 1100})
                    await sign_in(page, url, TOKEN)
                    await page.goto(f"{url}/dashboard/models/llama-chat")
                    await page.click("#rollback")
                    await page.wait_for_selector("#rollout-state:text('rolled_back')")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(target), full_page=True)


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/dashboard/rollout.png")))
