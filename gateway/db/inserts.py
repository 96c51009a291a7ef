"""INSERT with ``ON CONFLICT``: SQLAlchemy gives one construct per database, so the session's
dialect picks it (SQLite for the embedded default, Postgres in production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession) -> Any:
    """``insert`` of the session's database, whose statements take ``on_conflict_do_*``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
