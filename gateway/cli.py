"""The ``tollgate`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway import DISTRIBUTION, cli_admin, cli_billing, cli_pool, version
from gateway.cli_serve import serve_command


def _bench(args: argparse.Namespace) -> int:
    if args.scale_out:
        from gateway.bench import scale

        return scale.main_from_args(args.scale_out, args.duration, args.output, args.cpu_per_gateway, os.environ)
    from gateway.bench import run

    return run.main(run.options(args.server, args.duration, args.output), os.environ)


def _add_bench(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench", help="measure the gateway, core and metered, against a zero-latency upstream called directly"
    )
    bench.add_argument("--server", choices=("uvicorn", "granian", "both"), default="uvicorn")
    bench.add_argument("--duration", type=float, default=4.0, help="seconds per phase and target (default 4)")
    bench.add_argument("--output", help="also write the Markdown report to this file")
    bench.add_argument(
        "--scale-out",
        metavar="COUNTS",
        help="instead: gateways behind HAProxy on shared Postgres and Redis, e.g. 1,2,4 (--duration per count)",
    )
    bench.add_argument(
        "--cpu-per-gateway",
        type=float,
        metavar="CPUS",
        help="with --scale-out: limit each gateway to this many CPUs (a cgroup quota, like a pod's CPU limit)",
    )
    bench.set_defaults(handler=_bench)


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
    _add_bench(commands)
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
