"""The CLI is a package, one module per command group; ``tollgate``, ``python -m gateway`` and
``python -m gateway.cli`` (which the benchmarks use to issue keys) are the same command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway import DISTRIBUTION, version
from gateway.cli import main

COMMANDS = ("serve", "migrate", "keys", "customers", "credits", "usage", "rollups", "pool", "billing")


def test_every_command_group_is_registered_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    listed = capsys.readouterr().out
    positions = [listed.index(f"\n    {name}") for name in COMMANDS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("module", ["gateway", "gateway.cli"])
def test_python_m_runs_the_tollgate_command(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tollgate {version()} ({DISTRIBUTION})"
