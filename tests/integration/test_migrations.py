"""The Alembic revisions build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import inspect, select, text

from gateway.db import migrate
from gateway.db.models import ApiKey, Base, Customer
from tests.support.databases import open_sessions


async def _tables(url: str) -> set[str]:
    async with open_sessions(url) as sessions, sessions() as session:
        connection = await session.connection()
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_from_empty_matches_the_models_and_downgrades_to_nothing(empty_database_url: str) -> None:
    await migrate.upgrade(empty_database_url)

    assert await migrate.current(empty_database_url) == migrate.head()
    assert await migrate.check(empty_database_url) == []
    assert await _tables(empty_database_url) == {*Base.metadata.tables, "alembic_version"}

    await migrate.downgrade(empty_database_url)
    assert await migrate.current(empty_database_url) is None
    assert await _tables(empty_database_url) == {"alembic_version"}

    await migrate.upgrade(empty_database_url)  # and back up again
    assert await migrate.check(empty_database_url) == []


async def test_check_reports_a_schema_that_drifted_from_the_models(database_url: str) -> None:
    async with open_sessions(database_url) as sessions, sessions.begin() as session:
        await session.execute(text("ALTER TABLE customers ADD COLUMN nickname VARCHAR(20)"))

    diffs = await migrate.check(database_url)

    assert [(diff[0], diff[3].name) for diff in diffs] == [("remove_column", "nickname")]


def test_workers_starting_together_on_a_new_sqlite_file_migrate_it_once(tmp_path: Path) -> None:
    database = tmp_path / "not" / "yet" / "there.db"
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "backends": {"sim": {"type": "simulator"}},
                "models": [{"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}]}],
                "database_url": f"sqlite+aiosqlite:///{database}",
            }
        )
    )
    command = [sys.executable, "-m", "gateway", "migrate", "--config", str(config)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [run.communicate(timeout=60)[0].decode() for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert all(f"database at revision {migrate.head()}" in output for output in outputs)
    check = subprocess.run([*command, "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "matches" in check.stdout


async def test_upgrading_a_database_with_customers_keeps_them_and_their_keys(empty_database_url: str) -> None:
    await migrate.upgrade(empty_database_url, "0001")
    async with open_sessions(empty_database_url) as sessions, sessions.begin() as session:
        created = "2025-01-02 03:04:05+00:00"
        await session.execute(
            text("INSERT INTO customers (id, name, markup_percent, created_at) VALUES (7, 'acme', 5, :at)"),
            {"at": dt.datetime.fromisoformat(created)},
        )
        await session.execute(
            text(
                "INSERT INTO api_keys (id, customer_id, key_hash, prefix, created_at, updated_at, rpm)"
                " VALUES (3, 7, 'hash', 'tg-abc', :at, :at, 60)"
            ),
            {"at": dt.datetime.fromisoformat(created)},
        )

    await migrate.upgrade(empty_database_url)

    async with open_sessions(empty_database_url) as sessions, sessions.begin() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
        key = (await session.execute(select(ApiKey))).scalar_one()
    assert (customer.id, customer.name, customer.updated_at) == (7, "acme", customer.created_at)
    assert (customer.prepaid, customer.credit_grace_micros, customer.budget_warning_percent) == (False, 0, 80)
    assert customer.rpm is None and customer.budget_micros is None
    assert (key.id, key.customer_id, key.rpm, key.budget_warning_percent) == (3, 7, 60, 80)

    await migrate.downgrade(empty_database_url, "0001")
    async with open_sessions(empty_database_url) as sessions, sessions.begin() as session:
        count = (await session.execute(text("SELECT count(*) FROM api_keys WHERE customer_id = 7"))).scalar_one()
    assert count == 1
