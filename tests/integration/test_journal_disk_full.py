"""A full journal disk: billable requests are refused with 503 before they reach the upstream, rather
than served unmetered; space freed, they are served and metered again. A real tmpfs, really filled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.metering.journal import Journal, JournalUnavailable
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config
from tests.support.small_disk import fill, mounted_tmpfs
from tests.support.usage_records import usage_record

MIB = 1024 * 1024


def test_a_failed_write_refuses_until_a_probe_write_succeeds(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", 256 * 1024) as disk:
        journal = Journal(disk / "journal")
        journal.append(usage_record("req_1"))
        filler = fill(disk, leave_free=0)
        with pytest.raises(JournalUnavailable) as refused:
            for n in range(2, 100):  # the page holding the segment's tail may still take a line or two
                journal.append(usage_record(f"req_{n}"))
        assert refused.value.http_status == 503
        with pytest.raises(JournalUnavailable):
            journal.check_writable()  # the probe write fails too: still refusing
        filler.unlink()
        journal.check_writable()
        assert journal.failure is None
        journal.close()


def chat(client: httpx.Client, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hello"}], **extra}
    return client.post("/v1/chat/completions", json=body)


def test_a_full_journal_disk_refuses_billable_requests_before_the_upstream(
    tmp_path: Path, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, openai_url = fake_openai
    with mounted_tmpfs(tmp_path / "disk", 4 * MIB) as disk:
        config = sim_config(tmp_path, journal_dir=str(disk / "journal"), journal_min_free_bytes=MIB)
        config["backends"]["fake"] = {"type": "openai_compatible", "base_url": openai_url, "api_key": API_KEY}
        config["models"].append({"name": "gpt-fake", "deployments": [{"backend": "fake", "model": "gpt-upstream"}]})
        with running_gateway(config, tmp_path) as url:
            with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
                key = add_customer(admin, "acme")
            client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30)
            assert chat(client).status_code == 200

            filler = fill(disk, leave_free=MIB // 2)
            upstream_calls = len(fake.state.requests)
            for refused in (chat(client), chat(client, stream=True)):
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "usage_journal_unavailable"
                assert "journal_min_free_bytes" in refused.json()["error"]["message"]
                assert refused.headers["retry-after"]
            assert len(fake.state.requests) == upstream_calls  # never sent: nothing served unmetered
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["usage_journal"]["writable"] is False

            filler.unlink()
            assert chat(client).status_code == 200
            assert client.get("/readyz").json()["usage_journal"]["writable"] is True
            events = wait_for_events(admin_client(url), 2)
            assert [e["status"] for e in events] == [200, 200]  # the two served, none of the refused


def admin_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


def wait_for_events(admin: httpx.Client, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events: list[dict[str, Any]] = admin.get("/admin/usage/events", params={"limit": 100}).json()["data"]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.2)
