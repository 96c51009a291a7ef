"""Throwaway databases on both backends: a SQLite file and a fresh Postgres database per test.

``database_url`` (migrated to head) and ``empty_database_url`` are parametrised over
``sqlite`` and ``postgres``, so a test that takes one runs on both. Postgres databases are named
``tollgate_test_<random>`` and dropped afterwards, so parallel runs never meet. The server is
``$TOLLGATE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``), any database
on it that the user may ``CREATE DATABASE`` from.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import migrate
from gateway.db.engine import build_engine, session_factory

BACKENDS = ["sqlite", "postgres"]
POSTGRES = os.environ.get("TOLLGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def empty_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """Yield the SQLAlchemy URL of a database with no tables in it."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'tollgate.db'}"
        return
    name = f"tollgate_test_{uuid.uuid4().hex[:12]}"
    server = make_url(POSTGRES)
    admin = await asyncpg.connect(POSTGRES)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(POSTGRES)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def migrated_database(backend: str, directory: Path) -> AsyncIterator[str]:
    async with empty_database(backend, directory) as url:
        await migrate.upgrade(url)
        yield url


@asynccontextmanager
async def open_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with open_sessions(database_url) as factory:
        yield factory
