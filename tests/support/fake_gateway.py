"""A real gateway in front of one fake provider, driven by the OpenAI SDK: what the
``tests/e2e/test_*_via_sdk.py`` modules start once per module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import openai

from tests.support.gateway_process import create_key, running_gateway

F = TypeVar("F")


@dataclass(frozen=True)
class FakeGateway(Generic[F]):
    """The SDK client (holding a key of its own), the fake behind the gateway, and its database."""

    client: openai.OpenAI
    fake: F
    database: Path


@contextmanager
def gateway_on_fake(
    fake: F, config: dict[str, Any], workdir: Path, customer: str, *, env: dict[str, str] | None = None
) -> Iterator[FakeGateway[F]]:
    """Serve ``config`` (with a SQLite database in ``workdir``) and give ``customer`` a key to call it with."""
    database = workdir / "tollgate.db"
    config = {**config, "database_url": f"sqlite+aiosqlite:///{database}"}
    key = create_key(config, workdir, customer)
    with running_gateway(config, workdir, env=env) as url:
        yield FakeGateway(openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0), fake, database)
