"""``tollgate pool serve NAME``: start a vLLM pool's replicas on this host, one per configured url,
wait until each answers ``/health``, then keep them running until told to stop, and stop them all.
A pool with ``control`` also listens there for the gateway, which stops it while idle and starts it
again on the next request (scale to zero, :mod:`gateway.pools.control`).

Each replica runs in a process group of its own, so that stopping it also stops the engine and
worker processes vLLM starts beside its API server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from backends.vllm import VLLMConfig
from backends.vllm_launch import VLLMLaunch, server_args, server_env, visible_gpus
from gateway.pools.activity import Activity
from gateway.pools.control import control_server, serve_in_thread
from gateway.settings import ConfigError, Settings


@dataclass
class Replica:
    url: str  # the pool url it serves, as the gateway reaches it (``…/v1``)
    process: subprocess.Popen[bytes]

    @property
    def health_url(self) -> str:
        return self.url.rstrip("/").removesuffix("/v1") + "/health"


def pool_launch(settings: Settings, name: str) -> tuple[VLLMConfig, VLLMLaunch]:
    config = settings.backends.get(name)
    if not isinstance(config, VLLMConfig):
        pools = sorted(n for n, c in settings.backends.items() if isinstance(c, VLLMConfig) and c.launch)
        raise ConfigError(f"{settings.source}: no vllm pool {name!r} to serve (pools with launch: {pools or 'none'})")
    if config.launch is None:
        raise ConfigError(f"{settings.source}: $.backends.{name}.launch: a pool needs launch settings to be served")
    return config, config.launch


def replica_command(launch: VLLMLaunch, url: str) -> list[str]:
    address = urlsplit(url)
    if address.hostname is None or address.port is None:
        raise ConfigError(f"pool url {url!r} needs an explicit host and port to be served here")
    python = launch.python or sys.executable
    api = [python, "-m", "vllm.entrypoints.openai.api_server"]
    return [*api, *server_args(launch), "--host", address.hostname, "--port", str(address.port)]


def replica_env(launch: VLLMLaunch, replica: int, environ: Mapping[str, str]) -> dict[str, str]:
    env = {**environ, **server_env(launch)}
    gpus = visible_gpus(launch, replica)
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    return env


def start(config: VLLMConfig, launch: VLLMLaunch, environ: Mapping[str, str], logs: Path) -> list[Replica]:
    logs.mkdir(parents=True, exist_ok=True)
    replicas = []
    for index, url in enumerate(config.urls):
        with (logs / f"replica-{index}.log").open("ab") as log:
            process = subprocess.Popen(
                replica_command(launch, url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=replica_env(launch, index, environ),
                start_new_session=True,
            )
        replicas.append(Replica(url, process))
        _say(f"replica {url} started, process group {process.pid}")
    return replicas


def wait_healthy(replicas: list[Replica], timeout: float) -> None:
    """Until every replica answers ``/health`` with 200; raises if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    waiting = list(replicas)
    while waiting:
        for replica in list(waiting):
            if replica.process.poll() is not None:
                raise RuntimeError(f"replica {replica.url} exited with {replica.process.returncode} while starting")
            if _healthy(replica.health_url):
                waiting.remove(replica)
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {', '.join(r.url for r in waiting)}")
        if waiting:
            time.sleep(0.5)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(replicas: list[Replica], grace: float = 30.0) -> None:
    """SIGTERM every replica's process group, give them ``grace`` seconds together, then SIGKILL."""
    for replica in replicas:
        _signal_group(replica.process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for replica in replicas:
        with contextlib.suppress(subprocess.TimeoutExpired):
            replica.process.wait(max(deadline - time.monotonic(), 0.1))
        _signal_group(replica.process, signal.SIGKILL)  # whatever of the group is left
        replica.process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class Fleet:
    """The pool's replicas on this host, stopped and started again on the gateway's word."""

    def __init__(self, name: str, config: VLLMConfig, launch: VLLMLaunch, environ: Mapping[str, str], logs: Path):
        self.name = name
        self._config = config
        self._launch = launch
        self._environ = environ
        self._logs = logs
        self._lock = threading.Lock()  # the control endpoint's threads and the supervisor
        self.replicas: list[Replica] = []
        # Watched only for a pool the gateway may stop when idle (min_replicas: 0).
        self.activity = Activity(config.idle_seconds) if config.scales_to_zero else None

    def running(self) -> bool:
        return bool(self.replicas)

    def start(self) -> None:
        with self._lock:
            if not self.replicas:
                self.replicas = start(self._config, self._launch, self._environ, self._logs)
                if self.activity is not None:
                    self.activity.started()
                _say(f"pool {self.name} starting")

    def stop(self) -> None:
        with self._lock:
            replicas, self.replicas = self.replicas, []
            if replicas:
                stop(replicas)
                _say(f"pool {self.name} replicas stopped")

    def stop_idle(self) -> None:
        """The gateway's stop: refused (Busy) while the engines worked within ``idle_after``."""
        if self.activity is not None:
            self.activity.check_idle()
        self.stop()

    def look(self) -> None:
        with self._lock:
            roots = [replica.health_url.removesuffix("/health") for replica in self.replicas]
        if roots and self.activity is not None:
            self.activity.look(roots)

    def exited(self) -> Replica | None:
        """A replica that exited on its own (not stopped by the gateway)."""
        with self._lock:
            return next((r for r in self.replicas if r.process.poll() is not None), None)


def supervise(fleet: Fleet, stopping: threading.Event) -> int:
    """Block until asked to stop (0) or until a replica exits on its own (1)."""
    while not stopping.wait(1.0):
        fleet.look()
        replica = fleet.exited()
        if replica is not None:
            print(f"replica {replica.url} exited with {replica.process.returncode}", file=sys.stderr)
            return 1
    return 0


def serve_pool(settings: Settings, name: str, environ: Mapping[str, str], logs: Path, timeout: float) -> int:
    config, launch = pool_launch(settings, name)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    fleet = Fleet(name, config, launch, environ, logs)
    control = control_server(config.control, fleet) if config.control is not None else None
    serving = None
    fleet.start()
    try:
        wait_healthy(fleet.replicas, timeout)
        _say(f"pool {name} ready: {' '.join(config.urls)} (logs in {logs})")
        if control is not None:
            serving = serve_in_thread(control)
        code = supervise(fleet, stopping)
    except (RuntimeError, TimeoutError) as exc:
        print(f"tollgate: pool {name}: {exc}", file=sys.stderr)
        code = 1
    finally:
        if control is not None:
            if serving is not None:
                control.shutdown()  # waits for serve_forever: only once it runs
            control.server_close()
        fleet.stop()
    _say(f"pool {name} stopped")
    return code


def _say(line: str) -> None:
    print(line, flush=True)
