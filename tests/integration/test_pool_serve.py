"""``tollgate pool serve`` starts a real (CPU) vLLM pool from the config, the gateway serves it, and
a SIGTERM stops every process of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.vllm_support.server import SERVED_MODEL_NAME, ensure_model, ensure_vllm, vllm_python

pytestmark = pytest.mark.vllm


def pool_config(model: Path, port: int, workdir: Path) -> dict[str, Any]:
    launch = {
        "model": str(model),
        "served_model_name": SERVED_MODEL_NAME,
        "gpus_per_replica": 0,
        "scheduling": "priority",
        "max_model_len": 1024,
        "dtype": "float32",
        "enforce_eager": True,
        "python": str(vllm_python()),
        "env": {
            "HF_HUB_OFFLINE": "1",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_TARGET_DEVICE": "cpu",
            "OMP_NUM_THREADS": "1",
        },
    }
    return {
        "backends": {"local": {"type": "vllm", "urls": [f"http://127.0.0.1:{port}/v1"], "launch": launch}},
        "models": [{"name": "tiny", "deployments": [{"backend": "local", "model": SERVED_MODEL_NAME}]}],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "journal_dir": str(workdir / "journal"),
    }


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return line
        if not line and process.poll() is not None:
            raise AssertionError(f"pool serve exited with {process.returncode}")
    raise AssertionError(f"no {text!r} after {timeout}s")


def test_pool_serve_starts_the_replicas_the_gateway_uses_and_stops_them(tmp_path: Path) -> None:
    ensure_vllm()
    model = ensure_model(Path.home() / ".cache" / "tollgate" / "tiny-llama")
    port = free_port()
    config = pool_config(model, port, tmp_path)
    (tmp_path / "tollgate.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "gateway", "pool", "serve", "local", "--config", "tollgate.yaml"]
    pool = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        started = wait_for_line(pool, f"127.0.0.1:{port}/v1 started", timeout=30)
        wait_for_line(pool, "pool local ready", timeout=300)
        key = create_key(config, tmp_path, "pool-co")
        with running_gateway(config, tmp_path, ready_within=120) as url:  # vLLM keeps a core busy
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            answer = client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4, extra_body={"priority": 1}
            )
            assert answer.usage is not None and answer.usage.completion_tokens > 0
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(90) == 0
    finally:
        if pool.poll() is None:
            pool.kill()
    assert "pool local stopped" in (pool.stdout.read() if pool.stdout else "")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    assert _group_gone(int(started.rsplit("group ", 1)[1]), within=15)  # vLLM's engine processes went too


def _group_gone(group: int, within: float) -> bool:
    """Killed processes linger a moment until their parent (init, for orphans) reaps them."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
