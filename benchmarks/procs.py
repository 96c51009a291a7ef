"""The processes ``python -m benchmarks`` starts: the upstream and the gateways, each in its own session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from benchmarks.load import BenchError, encode_request, fetch_status
from benchmarks.results import Server

HOST = "127.0.0.1"
FACTORY = "gateway.app:app_from_environment"
PASSTHROUGH_FACTORY = "benchmarks.passthrough:app_from_environment"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(server: Server, port: int, factory: str = FACTORY) -> list[str]:
    """One worker, uvloop, no access log; uvicorn with httptools. ``factory`` builds the ASGI app:
    the gateway, or the pass-through reference."""
    listen = ["--host", HOST, "--port", str(port)]
    if server == "uvicorn":
        options = "--loop uvloop --http httptools --no-access-log --log-level warning"
        return [sys.executable, "-m", "uvicorn", "--factory", factory, *listen, *options.split()]
    options = "--interface asgi --factory --loop uvloop --workers 1 --no-ws --no-access-log --log-level warning"
    return [sys.executable, "-m", "granian", *options.split(), *listen, factory]


def upstream_command(port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.upstream", "--host", HOST, "--port", str(port)]


def child_env(env: Mapping[str, str], config: Path | None) -> dict[str, str]:
    """The caller's environment without Tollgate's own variables (which would override the bench
    config), plus the config path."""
    child = {k: v for k, v in env.items() if not k.startswith("TOLLGATE_")}
    if config is not None:
        child["TOLLGATE_CONFIG"] = str(config)
    child["PYTHONUNBUFFERED"] = "1"
    return child


def issue_key(config: Path, env: dict[str, str]) -> str:
    """A customer key from ``tollgate keys create`` on the variant's own database (the key is the
    last line of its output)."""
    command = [sys.executable, "-m", "gateway.cli", "keys", "create", "--config", str(config)]
    command += ["--customer", "bench", "--name", "bench"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stdout.split()
    if done.returncode != 0 or not lines:
        raise BenchError(f"tollgate keys create exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return lines[-1]


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], output: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group for the duration of the block."""
    with output.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # workers the server left behind, if any


async def wait_ready(process: subprocess.Popen[bytes], port: int, path: str, output: Path, within: float = 60) -> None:
    request = encode_request("GET", path, f"{HOST}:{port}")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{output.stem} exited with {process.returncode}:\n{_tail(output)}")
        with contextlib.suppress(OSError, BenchError):
            if await fetch_status(HOST, port, request) == 200:
                return
        await asyncio.sleep(0.1)
    raise BenchError(f"{output.stem}: no answer on http://{HOST}:{port}{path} within {within:.0f} s")


def _tail(output: Path) -> str:
    return output.read_text(errors="replace")[-2000:]
