"""The async engine and session factory, for SQLite (embedded default) and Postgres alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# Database URLs as users write them (and as Heroku, Render or psql print them) name no driver, and
# SQLAlchemy would pick psycopg2, which Tollgate does not install: the async driver is asyncpg.
_ASYNC_SCHEMES = {"postgres": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


def with_async_driver(url: str) -> str:
    """``postgres://`` and ``postgresql://`` as ``postgresql+asyncpg://``; ``sqlite://`` as ``sqlite+aiosqlite://``."""
    scheme, sep, rest = url.partition("://")
    return f"{_ASYNC_SCHEMES[scheme]}{sep}{rest}" if sep and scheme in _ASYNC_SCHEMES else url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def build_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets readers (admin API, dashboards) work while the journal writer commits.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
