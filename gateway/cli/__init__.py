"""The ``tollgate`` command line, one module per command group: ``serve``, ``admin`` (``migrate``,
``keys``, ``usage``, ``rollups``, with ``customers`` for ``customers`` and ``credits``), ``pool``,
``billing`` and ``rollout``; ``runner`` holds what the operator's commands share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gateway import DISTRIBUTION, version
from gateway.cli import admin, billing, pool, rollout, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollgate", description="An OpenAI-compatible model gateway.")
    parser.add_argument("--version", action="version", version=f"tollgate {version()} ({DISTRIBUTION})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.register(commands)
    admin.register(commands)
    pool.register(commands)
    billing.register(commands)
    rollout.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `tollgate` alone: what it can do
        parser.print_help()
        return 0
    code: int = args.handler(args)
    return code
