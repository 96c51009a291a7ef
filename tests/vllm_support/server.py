"""Start a real vLLM OpenAI-compatible server on CPU for tests (test-support code, stdlib only).

Runs under the project's interpreter; vLLM itself lives in a separate venv
(``$TOLLGATE_VLLM_VENV``, default ``~/.cache/tollgate/vllm-venv``, made by ``install.sh``).

    from tests.vllm_support.server import ensure_model, running_vllm
    model = ensure_model(tmp_path_factory.mktemp("m") / "tiny-llama")
    with running_vllm(model) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port

HERE = Path(__file__).resolve().parent
SERVED_MODEL_NAME = "tiny-llama"
INSTALL_MARKER = ".tollgate-vllm-install"


def vllm_venv() -> Path:
    return Path(os.environ.get("TOLLGATE_VLLM_VENV") or Path.home() / ".cache" / "tollgate" / "vllm-venv")


def vllm_python() -> Path:
    return vllm_venv() / "bin" / "python"


def vllm_available() -> bool:
    """True when install.sh has completed (cheap; for pytest skip conditions)."""
    return vllm_python().is_file() and (vllm_venv() / INSTALL_MARKER).is_file()


def ensure_vllm() -> Path:
    """Run install.sh (a no-op when already installed); returns the vLLM interpreter."""
    subprocess.run(["bash", str(HERE / "install.sh")], check=True)
    return vllm_python()


def ensure_model(model_dir: str | os.PathLike[str]) -> Path:
    """Create the tiny random-weight Llama model in model_dir unless it is already complete."""
    model_dir = Path(model_dir)
    proc = subprocess.run(
        [str(vllm_python()), str(HERE / "make_tiny_model.py"), str(model_dir)],
        env=_child_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"make_tiny_model.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return model_dir


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Do not leak the project venv into the vLLM venv's interpreter.
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        VLLM_CPU_KVCACHE_SPACE="1",  # GiB of KV cache; the default reserves far more
        VLLM_TARGET_DEVICE="cpu",
        VLLM_NO_USAGE_STATS="1",
        DO_NOT_TRACK="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",  # vLLM binds its worker to one core and reserves the other
        PYTHONUNBUFFERED="1",
    )
    if extra:
        env.update(extra)
    return env


@dataclass
class VLLMServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    model_name: str = SERVED_MODEL_NAME
    startup_seconds: float = 0.0
    argv: list[str] = field(default_factory=list)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def rss_bytes(self) -> int:
        """Resident memory of every process in the server's process group (Linux /proc)."""
        pgid = self.process.pid
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                if int(fields[2]) != pgid:  # field 5 (pgrp)
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except (OSError, ValueError, IndexError):
                continue
        return total


def _wait_healthy(server: VLLMServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"{server.root_url}/health"
    while True:
        rc = server.process.poll()
        if rc is not None:
            raise RuntimeError(f"vLLM server exited with code {rc} during startup; log tail:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"vLLM server not healthy after {timeout:.0f}s; log tail:\n{server.log_tail()}")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Engine-core / worker children live in the same process group; make sure none survive.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    # Wait (briefly) until the group is gone so the port and memory are really free.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(0.1)


@contextlib.contextmanager
def running_vllm(
    model_dir: str | os.PathLike[str],
    port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    served_model_name: str = SERVED_MODEL_NAME,
    max_model_len: int = 1024,
    dtype: str = "float32",
    startup_timeout: float = 240.0,
    log_path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[VLLMServer]:
    """Start ``vllm.entrypoints.openai.api_server`` and yield once GET /health is 200."""
    python = vllm_python()
    if not python.is_file():
        raise FileNotFoundError(f"vLLM venv not found at {vllm_venv()}; run tests/vllm_support/install.sh")
    attempts = 1 if port is not None else 3  # retry with a new port if ours was taken meanwhile
    log_dir = Path(log_path).parent if log_path is not None else None
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="tollgate-vllm-"))
    last_error: Exception | None = None
    for attempt in range(attempts):
        p = port if port is not None else free_port()
        log = Path(log_path) if log_path is not None else log_dir / f"vllm-{p}.log"
        argv = [
            str(python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(Path(model_dir).resolve()),
            "--served-model-name", served_model_name,
            "--host", host,
            "--port", str(p),
            "--enforce-eager",
            "--dtype", dtype,
            "--max-model-len", str(max_model_len),
            *extra_args,
        ]  # fmt: skip
        t0 = time.monotonic()
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=_child_env(env),
                start_new_session=True,  # own process group, so we can stop all its children
            )
        server = VLLMServer(proc, host, p, log, served_model_name, argv=argv)
        try:
            _wait_healthy(server, startup_timeout)
        except BaseException as exc:
            _stop(proc)
            in_use = "address already in use" in server.log_tail(200).lower()
            if isinstance(exc, RuntimeError) and in_use and attempt + 1 < attempts:
                last_error = exc
                continue
            raise
        server.startup_seconds = time.monotonic() - t0
        try:
            yield server
        finally:
            _stop(proc)
        return
    assert last_error is not None
    raise last_error


if __name__ == "__main__":  # manual smoke run: python -m tests.vllm_support.server MODEL_DIR
    target = ensure_model(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiny-llama")
    with running_vllm(target) as srv:
        print(f"vLLM up at {srv.base_url} in {srv.startup_seconds:.1f}s, rss={srv.rss_bytes() / 2**30:.2f} GiB")
        print(f"log: {srv.log_path}")
