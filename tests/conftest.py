"""Fixtures shared by the integration and end-to-end tests: fake upstreams and a real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import anthropic_server
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.fakes.threaded import serve_in_thread
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port

# Throwaway SQLite and Postgres databases: `database_url`, `empty_database_url`, `sessions`.
pytest_plugins = ["tests.support.databases", "tests.support.sim_gateway"]


# The fake answers 11 prompt and 7 completion tokens: 11 × 2.50 + 7 × 10.00 = 97.5 → 98 micro-dollars.
GPT_FAKE_PRICES = {"input_per_mtok": "2.50", "cached_input_per_mtok": "1.25", "output_per_mtok": "10.00"}


CLAUDE_FAKE_PRICES = {
    "input_per_mtok": "3",
    "cached_input_per_mtok": "0.30",
    "cache_write_per_mtok": "3.75",
    "output_per_mtok": "15",
}


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_in_thread(fake.app) as url:
        yield fake, f"{url}/v1"


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    with serve_in_thread(anthropic_server.build_app(fake)) as url:
        fake.base_url = f"{url}/v1"
        yield fake


# Images by size and quality, audio by the second, speech by the million characters (docs/media.md).
IMAGE_PRICES = {"256x256": "0.016", "1024x1024/standard": "0.04", "1024x1024/high": "0.17", "1536x1024/high": "0.25"}
AUDIO_PRICES = {"per_audio_second": "0.0001"}
SPEECH_PRICES = {"per_mchar": "15"}
MEDIA_LIMITS = {"max_images": 4, "max_audio_seconds": 30, "max_upload_bytes": 300_000, "max_speech_characters": 300}
MAX_UPLOAD_BYTES = 400_000


def media_models() -> list[dict[str, Any]]:
    """``{sim,fake,vllm}-{image,whisper,tts}``: image, transcription and speech models on the simulator,
    the fake OpenAI and a vLLM pool (which serves no images or speech), each sent as ``<kind>-upstream``."""
    kinds = (("image", "image", {"per_image": IMAGE_PRICES}), ("whisper", "transcription", AUDIO_PRICES))
    return [
        {
            "name": f"{backend_name}-{prefix}",
            "kind": kind,
            "deployments": [{"backend": backend, "model": f"{prefix}-upstream"}],
            "pricing": prices,
            "limits": MEDIA_LIMITS,
        }
        for backend_name, backend in (("sim", "sim"), ("fake", "fake-openai"), ("vllm", "vllm"))
        for prefix, kind, prices in (*kinds, ("tts", "speech", SPEECH_PRICES))
    ]


def gateway_config(openai_url: str, anthropic_url: str, workdir: Path) -> dict[str, Any]:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    return {
        "backends": {
            "vllm": {
                "type": "vllm",
                "urls": [openai_url],
                "api_key": API_KEY,
            },  # vLLM's audio endpoints speak OpenAI's format
            "fake-openai": {"type": "openai_compatible", "base_url": openai_url, "api_key": API_KEY},
            "fake-openai-impatient": {
                "type": "openai_compatible",
                "base_url": openai_url,
                "api_key": API_KEY,
                "timeouts": {"connect": 1, "read": 0.5},
            },
            "fake-openai-badkey": {"type": "openai_compatible", "base_url": openai_url, "api_key": "wrong"},
            "dead": {"type": "openai_compatible", "base_url": dead},
            "sim": {"type": "simulator"},
            "fake-anthropic": {"type": "anthropic", "base_url": anthropic_url, "api_key": anthropic_server.API_KEY},
        },
        "models": [
            {
                "name": "gpt-fake",
                "deployments": [{"backend": "fake-openai", "model": "gpt-upstream"}],
                "pricing": GPT_FAKE_PRICES,
            },
            {
                "name": "gpt-fake-completion",
                "kind": "completion",
                "deployments": [{"backend": "fake-openai", "model": "davinci-upstream"}],
            },
            {
                "name": "embed-fake",
                "kind": "embeddings",
                "deployments": [{"backend": "fake-openai", "model": "embed-upstream"}],
            },
            {"name": "gpt-impatient", "deployments": [{"backend": "fake-openai-impatient", "model": "gpt-upstream"}]},
            {"name": "gpt-badkey", "deployments": [{"backend": "fake-openai-badkey", "model": "gpt-upstream"}]},
            {"name": "gpt-dead", "deployments": [{"backend": "dead", "model": "gpt-upstream"}]},
            {
                "name": "claude-fake",
                "deployments": [{"backend": "fake-anthropic", "model": anthropic_server.MODEL}],
                "pricing": CLAUDE_FAKE_PRICES,
            },
            {"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}]},
            {"name": "sim-embed", "kind": "embeddings", "deployments": [{"backend": "sim", "model": "sim"}]},
            *media_models(),
        ],
        "max_request_bytes": 65536,
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="session")
def gateway_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="session")
def shared_config(
    fake_openai: tuple[FakeOpenAI, str], fake_anthropic: FakeAnthropic, gateway_workdir: Path
) -> dict[str, Any]:
    return gateway_config(fake_openai[1], fake_anthropic.base_url, gateway_workdir)


@pytest.fixture(scope="session")
def api_key(shared_config: dict[str, Any], gateway_workdir: Path) -> str:
    """A key of customer ``acme`` on the shared gateway, with no limits."""
    return create_key(shared_config, gateway_workdir, "acme")


@pytest.fixture(scope="session")
def gateway_url(shared_config: dict[str, Any], gateway_workdir: Path, api_key: str) -> Iterator[str]:
    with running_gateway(shared_config, gateway_workdir) as url:
        yield url
