"""The ``tollgate`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import DISTRIBUTION, cli_admin, cli_billing, cli_pool, version
from gateway.cli_serve import serve_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollgate", description="An OpenAI-compatible model gateway.")
    parser.add_argument("--version", action="version", version=f"tollgate {version()} ({DISTRIBUTION})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG, else the demo config)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.set_defaults(handler=serve_command)
    cli_admin.register(commands)
    cli_pool.register(commands)
    cli_billing.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `tollgate` alone: what it can do
        parser.print_help()
        return 0
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
