"""Start a real Tollgate server process for a test, from a config dict."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.ports import free_port


def start_gateway(
    config: dict[str, Any],
    workdir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_within: float = 30,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a gateway serving ``config`` and wait until it is healthy; the caller stops it."""
    path = workdir / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)]
    with (workdir / "gateway.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, workdir / "gateway.log", ready_within)
    except BaseException:
        process.kill()
        raise
    return url, process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_gateway(
    config: dict[str, Any],
    workdir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_within: float = 30,
) -> Iterator[str]:
    """Yield the root URL of a gateway serving ``config``; stop it afterwards."""
    url, process = start_gateway(config, workdir, workers=workers, env=env, ready_within=ready_within)
    try:
        yield url
    finally:
        stop(process)


def create_key(config: dict[str, Any], workdir: Path, customer: str, *options: str) -> str:
    """Issue a key with the real CLI (which migrates an SQLite database first); returns the secret."""
    path = workdir / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", "--customer", customer, "--config", str(path), *options],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """``timeout`` is generous: a shared two-core machine under load can take most of a minute to start one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway did not become healthy:\n{log.read_text()[-3000:]}")


async def spread_chats(
    urls: list[str],
    count: int,
    body: Callable[[int], dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> list[httpx.Response]:
    """``count`` chat completions sent at once, the n-th (``body(n)``) to ``urls[n % len(urls)]``."""
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as http:
        return await asyncio.gather(
            *(http.post(f"{urls[n % len(urls)]}/v1/chat/completions", json=body(n)) for n in range(count))
        )


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    """How many responses came back with each status code."""
    return dict(Counter(response.status_code for response in responses))
