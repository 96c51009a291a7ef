"""The command line the overhead benchmarks share: measure, print the Markdown report, and with
``--write FILE`` also write it there; the report quotes the command that produced it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def report_main(module: str, description: str | None, produce: Callable[[str], str]) -> None:
    """``produce(command)`` measures and returns the report of ``python -m module [--write FILE]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--write", help="write the report to this file")
    args = parser.parse_args()
    text = produce(f"python -m {module}" + (f" --write {args.write}" if args.write else ""))
    print(text)
    if args.write:
        Path(args.write).write_text(text)
