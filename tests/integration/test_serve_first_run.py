"""What a new user meets running ``tollgate``: the version, the help, one start-up line, and one line
(exit code 2, no traceback) for a config, database or Redis that cannot be served."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from gateway import DISTRIBUTION, version
from tests.support.databases import empty_database, migrated_database
from tests.support.gateway_process import running_gateway
from tests.support.ports import free_port

MODELS = [{"name": "chat", "deployments": [{"backend": "sim", "model": "sim"}]}]


def tollgate(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=cwd, env={**os.environ, **(env or {})}
    )


def serve(tmp_path: Path, **config: Any) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump({"backends": {"sim": {"type": "simulator"}}, "models": MODELS, **config}))
    return tollgate("serve", "--config", str(path), "--port", str(free_port()), cwd=tmp_path)


def assert_one_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit code 2 and a single line on stderr that says each of ``expected``: no traceback, no noise."""
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("tollgate: "), done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr
    for part in expected:
        assert part in done.stderr


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated Postgres database, as ``postgresql://`` with no driver named, like psql prints it."""
    async with migrated_database("postgres", tmp_path) as url:
        yield make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_version_and_help() -> None:
    assert tollgate("--version").stdout.strip() == f"tollgate {version()} ({DISTRIBUTION})"
    bare = tollgate()
    assert bare.returncode == 0
    assert bare.stdout.startswith("usage: tollgate") and "serve" in bare.stdout and "keys" in bare.stdout


def test_a_mistyped_choice_in_the_config_lists_the_choices_and_suggests_the_closest(tmp_path: Path) -> None:
    done = serve(tmp_path, models=[{**MODELS[0], "kind": "chatt"}])
    assert_one_line(
        done,
        "$.models[0].kind: Invalid enum value 'chatt'",
        "(one of: chat, completion, embeddings, image, speech, transcription; did you mean 'chat'?)",
    )


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_urls_without_a_driver_are_served_through_asyncpg(
    tmp_path: Path, postgres_url: str, scheme: str
) -> None:
    url = postgres_url.replace("postgresql://", f"{scheme}://", 1)
    config = {"backends": {"sim": {"type": "simulator"}}, "models": MODELS, "database_url": url}
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(config | {"anonymous_customer": "demo"}, tmp_path) as gateway:
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{gateway}/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    assert "database: postgresql+asyncpg://" in (tmp_path / "gateway.log").read_text()


async def test_a_database_not_migrated_stops_serve_with_what_to_run(tmp_path: Path) -> None:
    async with empty_database("postgres", tmp_path) as url:
        done = serve(tmp_path, database_url=url)
    assert_one_line(done, "has no Tollgate tables yet", "run `tollgate migrate`")


async def test_a_database_that_does_not_exist_stops_serve(tmp_path: Path, postgres_url: str) -> None:
    missing = make_url(postgres_url).set(database="tollgate_no_such_database")
    done = serve(tmp_path, database_url=missing.render_as_string(hide_password=False))
    assert_one_line(done, "does not exist", "createdb tollgate_no_such_database", "run `tollgate migrate`")


def test_a_database_refusing_connections_stops_serve(tmp_path: Path) -> None:
    done = serve(tmp_path, database_url=f"postgresql://tollgate:s3cret@127.0.0.1:{free_port()}/tollgate")
    assert_one_line(done, "the connection was refused", "TOLLGATE_DATABASE_URL")
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize(
    ("redis_url", "expected"),
    [
        (f"redis://127.0.0.1:{free_port()}/0", "cannot reach Redis at redis://127.0.0.1:"),
        ("http://127.0.0.1:6379", "is not a Redis URL"),
    ],
)
def test_a_bad_redis_url_stops_serve(tmp_path: Path, redis_url: str, expected: str) -> None:
    done = serve(tmp_path, redis_url=redis_url, database_url=f"sqlite:///{tmp_path / 'tollgate.db'}")
    assert_one_line(done, expected)


def test_serve_says_in_one_line_what_it_serves(tmp_path: Path) -> None:
    config = {
        "backends": {"sim": {"type": "simulator"}},
        "models": MODELS,
        "database_url": f"sqlite:///{tmp_path / 'tollgate.db'}",
        "redis_url": "redis://:hush@127.0.0.1:6379/0",
        "admin_token": "admin-token",
        "anonymous_customer": "walk-in",
    }
    with running_gateway(config, tmp_path) as url:
        lines = [line for line in (tmp_path / "gateway.log").read_text().splitlines() if line.startswith("tollgate:")]
    assert len(lines) == 1
    assert lines[0] == " | ".join(
        [
            f"tollgate: serving {url}",
            f"config: {tmp_path / 'tollgate.yaml'}",
            f"database: sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
            "limits and key changes: Redis redis://:***@127.0.0.1:6379/0",
            "admin API and dashboard: on (/admin, /dashboard)",
            "anonymous customer: walk-in",
        ]
    )


def test_the_demo_says_it_is_the_demo(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))},
    ) as process:
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
        finally:
            process.terminate()
    assert "config: demo (built in)" in line and "in-process (no redis_url)" in line
    assert "admin API and dashboard: off (set TOLLGATE_ADMIN_TOKEN)" in line and "anonymous customer: demo" in line
