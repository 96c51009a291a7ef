"""The benchmarks live outside the product: the wheel's packages leave them out, ``tollgate`` has no
``bench`` command, and ``python -m benchmarks`` (what ``make bench`` runs) takes the same flags."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from benchmarks.report import revision
from gateway.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_product_and_not_the_benchmarks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = find_packages(str(ROOT), include=config["tool"]["setuptools"]["packages"]["find"]["include"])
    assert {"gateway", "backends", "billing", "migrations"} <= set(shipped)
    assert [p for p in shipped if "bench" in p] == []


def test_tollgate_has_no_bench_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench"])
    assert exited.value.code == 2
    assert "invalid choice: 'bench'" in capsys.readouterr().err


def test_python_m_benchmarks_takes_the_bench_flags() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for flag in ("--server", "--duration", "--output", "--scale-out", "--cpu-per-gateway"):
        assert flag in done.stdout


def test_the_report_names_the_checkouts_commit() -> None:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    assert revision().startswith(f"`{head.stdout.strip()}`")
