"""The Alembic revisions build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import inspect, text

from gateway.db import migrate
from gateway.db.models import Base
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
