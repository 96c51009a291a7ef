"""``tollgate serve``: check what the config points at, say in one line what is being served, serve it.

Every problem a first run meets (a config that cannot be served, a database that is unreachable, missing
or not migrated, a Redis that cannot be reached) stops here with one line that says what is wrong and
what to do, and exit code 2: before any worker starts, so no traceback and no half-built state.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from gateway.db import migrate
from gateway.db.engine import is_sqlite
from gateway.settings import ConfigError, Settings, load_settings

# Long enough for a database across a network, short enough that a typo does not look like a hang.
CHECK_TIMEOUT = 10.0
_MIGRATE = "run `tollgate migrate`"


class NotServable(Exception):
    """What stops ``serve`` before it starts; the message is the one line the user reads."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG, else the demo config)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, os.environ)  # fail fast, before any worker starts
        asyncio.run(preflight(settings))
    except ConfigError as exc:
        print(f"tollgate: bad config: {exc}", file=sys.stderr)
        return 2
    except NotServable as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        return 2
    if args.config:
        os.environ["TOLLGATE_CONFIG"] = os.path.abspath(args.config)
    if args.workers > 1:
        from gateway.server import share_metrics_between_workers

        share_metrics_between_workers(os.environ)
    from gateway.server import serve

    print(startup_line(settings, args.host, args.port), file=sys.stderr, flush=True)
    serve(host=args.host, port=args.port, workers=args.workers, settings=settings)
    return 0


def startup_line(settings: Settings, host: str, port: int) -> str:
    """URL, config, database, shared state, admin and dashboard, and who anonymous requests are billed to."""
    shown_host = f"[{host}]" if ":" in host else host
    config = "demo (built in)" if settings.source == "<demo>" else settings.source
    state = f"Redis {shown_url(settings.redis_url)}" if settings.redis_url else "in-process (no redis_url)"
    admin = "on (/admin, /dashboard)" if settings.admin_token else "off (set TOLLGATE_ADMIN_TOKEN)"
    parts = [
        f"tollgate: serving http://{shown_host}:{port}",
        f"config: {config}",
        f"database: {shown_url(settings.database_url)}",
        f"limits and key changes: {state}",
        f"admin API and dashboard: {admin}",
    ]
    if settings.anonymous_customer:
        parts.append(f"anonymous customer: {settings.anonymous_customer}")
    return " | ".join(parts)


def shown_url(url: str) -> str:
    """A database or Redis URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


async def preflight(settings: Settings) -> None:
    """Raise :class:`NotServable` unless the database is at the newest schema and Redis answers."""
    await _check_database(settings.database_url)
    if settings.redis_url:
        await _check_redis(settings.redis_url)


async def _check_database(url: str) -> None:
    where = f"the database {shown_url(url)}"
    try:
        make_url(url)
    except ArgumentError:
        raise NotServable(
            f"database_url {shown_url(url)!r} is not a database URL (postgresql://USER@HOST/DB)"
        ) from None
    try:
        if is_sqlite(url):
            await asyncio.wait_for(migrate.migrate_on_start(url), CHECK_TIMEOUT)  # SQLite migrates itself
            return
        at = await asyncio.wait_for(migrate.current(url), CHECK_TIMEOUT)
    except TimeoutError:
        raise NotServable(
            f"{where} did not answer within {CHECK_TIMEOUT:.0f} s; is it running and reachable?"
        ) from None
    except (OSError, DBAPIError) as exc:
        raise NotServable(f"{where} cannot be used: {_database_trouble(exc, url)}") from None
    head = migrate.head()
    if at is None:
        raise NotServable(f"{where} has no Tollgate tables yet: {_MIGRATE} (with the same config) first")
    if at != head:
        raise NotServable(f"{where} is at schema revision {at}, this Tollgate needs {head}: {_MIGRATE}")


def _database_trouble(exc: OSError | DBAPIError, url: str) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused; is Postgres running there (database_url, TOLLGATE_DATABASE_URL)?"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}; check the host in database_url (or TOLLGATE_DATABASE_URL)"
    if getattr(exc.orig, "sqlstate", None) == "3D000":  # invalid_catalog_name
        name = make_url(url).database
        return f"it does not exist; create it (createdb {name}), then {_MIGRATE}"
    return str(exc.orig).strip().splitlines()[0]


async def _check_redis(url: str) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    where = f"Redis at {shown_url(url)}"
    advice = "start it, fix redis_url (or TOLLGATE_REDIS_URL), or leave it unset to keep limits in this process"
    try:
        client: Any = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    except ValueError as exc:
        raise NotServable(f"redis_url {shown_url(url)!r} is not a Redis URL: {exc}") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise NotServable(f"cannot reach {where}: {str(exc).rstrip('.')}; {advice}") from None
    finally:
        await client.aclose()
