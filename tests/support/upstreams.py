"""Fake upstream processes (``tests/fakes/faulty_upstream.py``) for routing tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port


@dataclass
class Upstream:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def faults(self, **faults: Any) -> None:
        httpx.post(f"{self.root}/_faults", json=faults, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.root}/_stats", timeout=5).json()
        return stats

    def requests(self) -> int:
        return int(self.stats()["requests"])


def start_upstream(name: str, log_dir: Path, port: int | None = None) -> Upstream:
    port = port or free_port()
    with (log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.faulty_upstream", "--port", str(port), "--name", name],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    upstream = Upstream(name, port, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{upstream.root}/health", timeout=1).status_code == 200:
                return upstream
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"fake upstream {name} did not start: {(log_dir / f'{name}.log').read_text()}")
        time.sleep(0.05)


@contextmanager
def running_upstreams(names: list[str], log_dir: Path) -> Iterator[dict[str, Upstream]]:
    with ExitStack() as stack:
        upstreams: dict[str, Upstream] = {}
        for name in names:
            upstreams[name] = start_upstream(name, log_dir)
            stack.callback(_stop, upstreams[name].process)
        yield upstreams


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
