"""What the operator's commands share: settings, the database, and errors as a message and exit code."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from sqlalchemy.exc import SQLAlchemyError

from gateway.admin.service import AdminService
from gateway.core.errors import TollgateError
from gateway.db import migrate
from gateway.db.engine import build_engine, session_factory
from gateway.settings import ConfigError, Settings, load_settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Command = Callable[[AdminService, argparse.Namespace], Awaitable[None]]


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, os.environ)


def run_command(command: Command) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: settings, the database, and errors turned into a message and an exit code."""

    def handler(args: argparse.Namespace) -> int:
        return exit_status(lambda: _run(command, args), "database error: {}\n(has `tollgate migrate` been run?)")

    return handler


def exit_status(run: Callable[[], int], database_trouble: str) -> int:
    """``run``'s exit code; or, with a message, 2 for a bad config and 1 for a refused request or for a
    database that cannot be used (``database_trouble`` says so, its ``{}`` standing for the error)."""
    try:
        return run()
    except ConfigError as exc:
        print(f"tollgate: bad config: {exc}", file=sys.stderr)
        return 2
    except TollgateError as exc:
        print(f"tollgate: {exc.message}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        print(f"tollgate: {database_trouble.format(exc)}", file=sys.stderr)
        return 1


def _run(command: Command, args: argparse.Namespace) -> int:
    asyncio.run(_with_database(settings_of(args), command, args))
    return 0


async def _with_database(settings: Settings, command: Command, args: argparse.Namespace) -> None:
    await migrate.migrate_on_start(settings.database_url)
    engine = build_engine(settings.database_url)
    try:
        # The CLI cannot reach the gateways' caches: they see a revocation through the database.
        await command(AdminService(session_factory(engine), known_models=[m.name for m in settings.models]), args)
    finally:
        await engine.dispose()


def when(moment: dt.datetime | None, default: str) -> str:
    return default if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")
