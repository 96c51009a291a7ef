"""What the overhead benchmarks share: the command line (measure, print the Markdown report, and with
``--write FILE`` also write it there) and the report's opening lines, which quote the command that
produced it, its commit and the machine."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import cpu_model


def report_main(module: str, description: str | None, produce: Callable[[str], str]) -> None:
    """``produce(command)`` measures and returns the report of ``python -m module [--write FILE]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--write", help="write the report to this file")
    args = parser.parse_args()
    text = produce(f"python -m {module}" + (f" --write {args.write}" if args.write else ""))
    print(text)
    if args.write:
        Path(args.write).write_text(text)


def heading(title: str, command: str, setting: str) -> list[str]:
    """A report's title and what ran where: ``setting`` describes the parts beside the machine."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return [
        f"# {title}",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; commit `{commit}`",
        f"- Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}; {setting}",
    ]
