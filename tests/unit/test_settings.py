"""Config loading: interpolation, overrides, and errors that name the file, the key path and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backends.openai_compatible import OpenAICompatibleConfig
from backends.vllm import VLLMConfig
from gateway.settings import ConfigError, load_settings

GOOD = """
backends:
  gpu-us: {type: vllm, urls: ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"], region: us}
  openai: {type: openai_compatible, base_url: "https://api.openai.com/v1", api_key: "${OPENAI_API_KEY}"}
models:
  - name: llama-3.1-8b
    kind: chat
    deployments:
      - {backend: gpu-us, model: meta-llama/Llama-3.1-8B-Instruct}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tollgate.yaml"
    path.write_text(text)
    return path


def test_issue_example_loads_with_secret_interpolated(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), {"OPENAI_API_KEY": "sk-secret"})
    pool, openai = settings.backends["gpu-us"], settings.backends["openai"]
    assert isinstance(pool, VLLMConfig) and pool.urls[1] == "http://10.0.0.6:8000/v1" and pool.region == "us"
    assert isinstance(openai, OpenAICompatibleConfig) and openai.api_key == "sk-secret"
    assert settings.models[0].deployments[0].model == "meta-llama/Llama-3.1-8B-Instruct"


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "OPENAI_API_KEY": "k",
        "TOLLGATE_DATABASE_URL": "postgresql+asyncpg://db/x",
        "TOLLGATE_REDIS_URL": "redis://r:6379/0",
        "TOLLGATE_ADMIN_TOKEN": "admin",
    }
    settings = load_settings(write(tmp_path, GOOD), env)
    assert (settings.database_url, settings.redis_url, settings.admin_token) == (
        "postgresql+asyncpg://db/x",
        "redis://r:6379/0",
        "admin",
    )


def test_config_path_from_environment_and_default_values(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("${OPENAI_API_KEY}", "${OPENAI_API_KEY:-none}"))
    settings = load_settings(None, {"TOLLGATE_CONFIG": str(path)})
    assert settings.source == str(path)
    assert isinstance(settings.backends["openai"], OpenAICompatibleConfig)
    assert settings.backends["openai"].api_key == "none"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, "$.backends.openai.api_key: environment variable OPENAI_API_KEY is not set"),
        (GOOD.replace("type: vllm", "type: tpu"), "$.backends.gpu-us.type: Invalid value 'tpu'"),
        (
            GOOD.replace('urls: ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"]', "urls: 5"),
            "$.backends.gpu-us.urls: Expected `array`, got `int`",
        ),
        (
            GOOD.replace("backend: gpu-us", "backend: gpu-eu"),
            "$.models[0].deployments[0].backend: unknown backend 'gpu-eu'",
        ),
        (GOOD.replace("kind: chat", "kind: poetry"), "$.models[0].kind: Invalid enum value 'poetry'"),
        (
            GOOD.replace("    kind: chat\n", "    kind: chat\n    colour: red\n"),
            "$.models[0]: Object contains unknown field `colour`",
        ),
        (
            GOOD + "  - name: llama-3.1-8b\n    deployments: [{backend: gpu-us, model: x}]\n",
            "$.models[1].name: model 'llama-3.1-8b' is declared twice",
        ),
        ("backends: {}\nmodels: [{name: a, deployments: []}]", "$.models[0].deployments: a model needs at least one"),
        (
            GOOD.replace("kind: chat", "kind: chat\n    pricing: {gpu_hour_usd: 2, tokens_per_gpu_hour: 0}"),
            "$.models[0].pricing.tokens_per_gpu_hour: Expected `int` >= 1",
        ),
        (
            GOOD.replace("kind: chat", "kind: chat\n    rollout: {backend: gpu-next, model: x}"),
            "$.models[0].rollout.backend: unknown backend 'gpu-next'",
        ),
        (
            GOOD.replace("region: us}", "region: us, strategy: fastest}"),
            "$.backends.gpu-us.strategy: Invalid enum value 'fastest'",
        ),
        (GOOD + "routing: {retry: {attempts: 0}}", "$.routing.retry.attempts: Expected `int` >= 1"),
        ("- just\n- a list", "$: expected a mapping at the top level"),
        ("backends: {a: [unclosed", "is not valid YAML"),
    ],
)
def test_bad_config_names_file_path_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    env = {} if "OPENAI_API_KEY is not set" in expected else {"OPENAI_API_KEY": "k"}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path / "nope.yaml", {})


def test_serve_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("backend: gpu-us", "backend: gpu-eu"))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin", "OPENAI_API_KEY": "k"},
    )
    assert done.returncode == 2
    assert f"{path}: $.models[0].deployments[0].backend: unknown backend 'gpu-eu'" in done.stderr


def test_demo_config_has_simulator_models_and_openai_only_with_a_key() -> None:
    demo = load_settings(None, {})
    assert [(m.name, m.kind) for m in demo.models] == [
        ("sim-chat", "chat"),
        ("sim-embed", "embeddings"),
        ("sim-image", "image"),
        ("sim-whisper", "transcription"),
        ("sim-tts", "speech"),
    ]
    keyed = load_settings(None, {"OPENAI_API_KEY": "sk-x"})
    assert "gpt-4o-mini" in [m.name for m in keyed.models]
    assert isinstance(keyed.backends["openai"], OpenAICompatibleConfig) and keyed.backends["openai"].api_key == "sk-x"
