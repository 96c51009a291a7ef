"""A pool's launch settings become the vLLM server's arguments and each replica's GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.vllm_launch import VLLMLaunch, server_args, visible_gpus
from gateway.pools.serve import pool_launch, replica_command
from gateway.settings import ConfigError, load_settings


def settings_with(launch: dict[str, Any] | None, tmp_path: Path) -> Path:
    pool: dict[str, Any] = {"type": "vllm", "urls": ["http://127.0.0.1:8101/v1", "http://127.0.0.1:8102/v1"]}
    if launch is not None:
        pool["launch"] = launch
    config = {
        "backends": {"gpu": pool, "sim": {"type": "simulator"}},
        "models": [{"name": "llama", "deployments": [{"backend": "gpu", "model": "llama"}]}],
    }
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_gpu_pool_is_served_with_its_quantization_parallelism_and_scheduling() -> None:
    launch = VLLMLaunch(
        model="/models/llama-70b-awq",
        served_model_name="llama",
        gpus_per_replica=2,
        quantization="awq",
        scheduling="priority",
        max_model_len=8192,
    )
    assert server_args(launch) == [
        "--model", "/models/llama-70b-awq",
        "--served-model-name", "llama",
        "--tensor-parallel-size", "2",
        "--quantization", "awq",
        "--enable-prefix-caching",
        "--scheduling-policy", "priority",
        "--dtype", "auto",
        "--max-model-len", "8192",
    ]  # fmt: skip
    assert [visible_gpus(launch, replica) for replica in range(3)] == ["0,1", "2,3", "4,5"]


def test_each_replica_listens_where_the_gateway_looks_for_it(tmp_path: Path) -> None:
    settings = load_settings(settings_with({"model": "/m", "gpus_per_replica": 0}, tmp_path), {})
    config, launch = pool_launch(settings, "gpu")
    commands = [replica_command(launch, url) for url in config.urls]
    assert [command[-4:] for command in commands] == [
        ["--host", "127.0.0.1", "--port", "8101"],
        ["--host", "127.0.0.1", "--port", "8102"],
    ]
    assert "--no-enable-prefix-caching" not in commands[0] and visible_gpus(launch, 1) is None


def test_more_shards_than_gpus_is_refused_at_load(tmp_path: Path) -> None:
    path = settings_with({"model": "/m", "gpus_per_replica": 1, "tensor_parallel_size": 2}, tmp_path)
    with pytest.raises(ConfigError, match=r"\$\.backends\.gpu\.launch.*tensor_parallel_size 2"):
        load_settings(path, {})


def test_serving_a_pool_without_launch_settings_says_what_is_missing(tmp_path: Path) -> None:
    settings = load_settings(settings_with(None, tmp_path), {})
    with pytest.raises(ConfigError, match=r"backends\.gpu\.launch: a pool needs launch settings"):
        pool_launch(settings, "gpu")
    with pytest.raises(ConfigError, match="no vllm pool 'sim'"):
        pool_launch(settings, "sim")
