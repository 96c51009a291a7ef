"""``python -m benchmarks``: the gateway, core and metered, against a zero-latency upstream called
directly; with ``--scale-out``, gateways behind HAProxy on shared Postgres and Redis. ``make bench``
and ``make bench-scale`` run it; it is a developer's tool and not part of the installed product."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="measure the gateway, core and metered, against a zero-latency upstream called directly",
    )
    parser.add_argument("--server", choices=("uvicorn", "granian", "both"), default="uvicorn")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per phase and target (default 4)")
    parser.add_argument("--output", help="also write the Markdown report to this file")
    parser.add_argument(
        "--scale-out",
        metavar="COUNTS",
        help="instead: gateways behind HAProxy on shared Postgres and Redis, e.g. 1,2,4 (--duration per count)",
    )
    parser.add_argument(
        "--cpu-per-gateway",
        type=float,
        metavar="CPUS",
        help="with --scale-out: limit each gateway to this many CPUs (a cgroup quota, like a pod's CPU limit)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.scale_out:
        from benchmarks import scale

        return scale.main_from_args(args.scale_out, args.duration, args.output, args.cpu_per_gateway, os.environ)
    from benchmarks import run

    return run.main(run.options(args.server, args.duration, args.output), os.environ)


if __name__ == "__main__":
    sys.exit(main())
