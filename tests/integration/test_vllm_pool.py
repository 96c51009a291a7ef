"""A real vLLM OpenAI server on CPU, behind Tollgate as a ``vllm`` pool, driven by the OpenAI SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gateway_process import create_key, running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN
from tests.vllm_support.server import VLLMServer, ensure_model, ensure_vllm, running_vllm

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    ensure_vllm()
    model = ensure_model(Path.home() / ".cache" / "tollgate" / "tiny-llama")
    with running_vllm(model, log_path=tmp_path_factory.mktemp("vllm") / "vllm.log") as server:
        yield server


@pytest.fixture(scope="module")
def gateway(vllm_server: VLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    config = {
        "backends": {"gpu-local": {"type": "vllm", "urls": [vllm_server.base_url]}},
        "models": [
            {
                "name": "tiny",
                "deployments": [{"backend": "gpu-local", "model": vllm_server.model_name}],
                # An H100 at $2.00 an hour serving 4M tokens an hour: $0.50 per million tokens.
                "pricing": {"gpu_hour_usd": "2.00", "tokens_per_gpu_hour": 4_000_000},
            }
        ],
        "admin_token": ADMIN_TOKEN,  # /readyz names the backends to it
    }
    workdir = tmp_path_factory.mktemp("gateway-vllm")
    key = create_key(config, workdir, "vllm-tests")
    with running_gateway(config, workdir) as url:
        yield url, key


@pytest.fixture
def client(gateway: tuple[str, str]) -> openai.OpenAI:
    url, key = gateway
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_chat_through_the_pool(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=[{"role": "user", "content": "Say hello"}], max_tokens=8, temperature=0
    )
    completion = raw.parse()
    assert raw.headers["x-tollgate-backend"] == "gpu-local"
    assert completion.model == "tiny" and completion.choices[0].finish_reason in ("length", "stop")
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 8
    assert completion.usage.prompt_tokens > 3  # the ChatML template wraps the message
    # Every token costs 2.00 / 4,000,000 dollars = 0.5 micro-dollars, rounded half up per request.
    micros = (completion.usage.total_tokens + 1) // 2
    assert raw.headers["x-tollgate-cost-usd"] == f"0.{micros:06d}"


def test_completions_through_the_pool(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="tiny", prompt="The capital of France is", max_tokens=6, temperature=0, extra_body={"ignore_eos": True}
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    assert completion.choices[0].finish_reason == "length"


def test_streaming_with_usage_matches_the_non_streamed_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count to three"}]
    whole = client.chat.completions.create(
        model="tiny",
        messages=messages,
        max_tokens=10,
        temperature=0,  # type: ignore[arg-type]
        extra_body={"ignore_eos": True},
    )
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=messages,
            max_tokens=10,
            temperature=0,
            stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 10 == (whole.usage.completion_tokens if whole.usage else -1)


def test_streaming_without_usage_hides_vllm_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
        )
    )
    assert chunks and all(c.choices and c.usage is None for c in chunks)


async def test_async_sdk_and_readiness(gateway: tuple[str, str]) -> None:
    url, key = gateway
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    done = await client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    assert done.choices[0].message.role == "assistant"
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"{url}/readyz", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ready.status_code == 200 and ready.json()["backends"] == {"gpu-local": "ok"}
