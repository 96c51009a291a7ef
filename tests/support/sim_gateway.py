"""A real gateway process on the simulator backend, with an admin token and two customers.

The hardening tests (fuzzing, isolation, limits, secrets) share it: ``sim_gateway`` yields its URL,
tokens and database. Load with ``pytest_plugins``; one gateway per test session.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from gateway.metering.record import decode_record
from tests.support.gateway_process import running_gateway

ADMIN_TOKEN = "admin-token-for-hardening-tests-0123456789"
SIM_PRICES = {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}
# Tables that change only through the journal drain (asynchronously) or never through the API.
# Written by the journal drain in the background (the journal's size stands for them), or never changing.
DRAINED_TABLES = {
    "usage_events",
    "usage_rollups",
    "usage_totals",
    "latency_rollups",
    "error_rollups",
    "alembic_version",
}


def sim_config(workdir: Path, **overrides: Any) -> dict[str, Any]:
    sim = {"type": "simulator"}
    return {
        "backends": {"sim": sim},
        "models": [
            {
                "name": "sim-chat",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": SIM_PRICES,
                "cache": {"exact": True},  # deterministic requests (temperature 0, a seed) are cached
            },
            {
                "name": "sim-completion",
                "kind": "completion",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": SIM_PRICES,
                "cache": {"exact": True},
            },
            {
                "name": "sim-embed",
                "kind": "embeddings",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": SIM_PRICES,
            },
            # Media models, so that the fuzzer's valid requests reach a backend.
            *(
                {"name": f"sim-{kind}", "kind": kind, "deployments": [{"backend": "sim", "model": "sim"}]}
                for kind in ("image", "transcription", "speech")
            ),
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "journal_dir": str(workdir / "journal"),
        "admin_token": ADMIN_TOKEN,
        "max_request_bytes": 65536,
        "max_upload_bytes": 131072,
        "batches": {"max_file_bytes": 65536},  # a batch input file's own limit, under the upload limit
        "max_messages": 64,
        "max_header_bytes": 8192,
        "request_read_timeout_seconds": 3.0,
        **overrides,
    }


@dataclass(frozen=True)
class SimGateway:
    url: str
    workdir: Path
    keys: dict[str, str]  # customer name -> secret

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)

    def customer(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.keys[name]}"}, timeout=30)

    def state_digest(self) -> dict[str, str]:
        """A digest of every table the API writes, and of the journal's answers and charges: what a
        rejected request must leave as it found it."""
        with sqlite3.connect(self.workdir / "tollgate.db") as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            digest = {
                table: hashlib.sha256(
                    repr(db.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()).encode()
                ).hexdigest()
                for table in tables
                if table not in DRAINED_TABLES
            }
        digest["journal_charged"] = self._journal_charged()
        return digest

    def _journal_charged(self) -> str:
        """The journal's answered requests and what they were charged. A refusal may be journaled as
        an error of its own (the media endpoints record one, at no cost, once the model is known), but
        it adds no answer and no charge."""
        answered = charged = 0
        for segment in (self.workdir / "journal").glob("*.jsonl"):
            for line in segment.read_bytes().splitlines():
                try:
                    record = decode_record(line)
                except msgspec.DecodeError:  # the segment's header, a blank probe line, a line being written
                    continue
                answered += record.status < 400
                charged += record.cost_micros
        return f"{answered} answered, {charged} micros"


def add_customer(admin: httpx.Client, name: str) -> str:
    """Create a customer and one key for it; returns the key's secret."""
    admin.post("/admin/customers", json={"name": name}).raise_for_status()
    created = admin.post("/admin/keys", json={"customer": name, "name": f"{name}-key"})
    created.raise_for_status()
    secret: str = created.json()["key"]
    return secret


@contextlib.contextmanager
def started_sim_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimGateway]:
    """A sim gateway with two customers, alice and bob, each with a key."""
    workdir = tmp_path_factory.mktemp("sim-gateway")
    with running_gateway(sim_config(workdir), workdir) as url:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
            keys = {name: add_customer(admin, name) for name in ("alice", "bob")}
        yield SimGateway(url, workdir, keys)


@pytest.fixture(scope="session")
def sim_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimGateway]:
    with started_sim_gateway(tmp_path_factory) as gateway:
        yield gateway
