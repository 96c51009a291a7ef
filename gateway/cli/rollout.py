"""``tollgate rollout rollback MODEL`` and ``tollgate rollout history MODEL``.

They work on the database that every gateway follows (gateway/routing/rollouts.py): a rollback
made here reaches every gateway within ``routing.rollout_interval``, none of them restarted.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.cli.runner import Commands, exit_status, settings_of, when
from gateway.cli.tables import render
from gateway.db import migrate
from gateway.db.engine import build_engine, session_factory
from gateway.db.models.base import utcnow
from gateway.routing import rollout_actions
from gateway.routing.rollout_store import RolloutStore

Action = Callable[[RolloutStore, argparse.Namespace], Awaitable[None]]


def register(commands: Commands) -> None:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG, else the demo config)")
    rollout = commands.add_parser("rollout", help="roll a model's rollout back, or show its history").add_subparsers(
        dest="action", required=True
    )
    back = rollout.add_parser(
        "rollback",
        parents=[config],
        help="withdraw the candidate, or restore the previous version within keep_previous_hours of a promotion",
    )
    back.add_argument("model")
    back.set_defaults(handler=_handler(_rollback))
    history = rollout.add_parser(
        "history", parents=[config], help="every transition of a model's rollout, newest first"
    )
    history.add_argument("model")
    history.set_defaults(handler=_handler(_history))


def _handler(action: Action) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        def run() -> int:
            asyncio.run(_with_store(args, action))
            return 0

        return exit_status(run, "database error: {}\n(has `tollgate migrate` been run?)")

    return handler


async def _with_store(args: argparse.Namespace, action: Action) -> None:
    settings = settings_of(args)
    await migrate.migrate_on_start(settings.database_url)
    engine = build_engine(settings.database_url)
    try:
        sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        await action(RolloutStore(sessions), args)
    finally:
        await engine.dispose()


async def _rollback(store: RolloutStore, args: argparse.Namespace) -> None:
    state = await rollout_actions.rollback(store, args.model, "cli", utcnow())
    print(f"{state.model}: {state.state} ({state.reason}); every gateway follows within seconds")


async def _history(store: RolloutStore, args: argparse.Namespace) -> None:
    events = await store.events(args.model)
    rows = [
        [
            when(e.at, ""),
            e.action,
            e.candidate,
            "" if e.from_share is None else f"{e.from_share:.0%}",
            f"{e.to_share:.0%}",
            e.actor,
            e.reason or "",
        ]
        for e in events
    ]
    print(render(["at", "action", "candidate", "from", "to", "by", "reason"], rows))
