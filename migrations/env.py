"""The Alembic environment, for SQLite and Postgres, online (async drivers) and offline (SQL script).

``gateway.db.migrate`` is the usual caller: it opens the connection itself and hands it over in
``config.attributes["connection"]`` (Alembic's connection-sharing recipe, so migrations can run
inside a running event loop). Without one, a URL in ``config.attributes["url"]`` is opened here
with the async driver it names.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.db.migrate import context_options


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **context_options())
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    attributes = context.config.attributes
    if context.is_offline_mode():
        context.configure(url=attributes["url"], literal_binds=True, **context_options())
        with context.begin_transaction():
            context.run_migrations()
    elif attributes.get("connection") is not None:
        _run(attributes["connection"])
    else:
        asyncio.run(_run_with_url(attributes["url"]))


_main()
