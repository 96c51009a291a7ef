"""``/v1/responses`` against a real vLLM OpenAI server on CPU (a ``vllm`` pool), through the Python SDK:
vLLM serves ``/v1/responses`` itself, so the request is passed through (not translated to a chat completion),
plain, streamed and chained by ``previous_response_id`` (resolved by the gateway)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from tests.support.gateway_process import create_key, running_gateway
from tests.vllm_support.server import VLLMServer, ensure_model, ensure_vllm, running_vllm

pytestmark = pytest.mark.vllm

# Random weights may end the answer at once; ignore_eos (vLLM's own field, passed through) keeps it going.
EXACT = {"ignore_eos": True}


@dataclass(frozen=True)
class Served:
    client: openai.OpenAI
    log: Path  # the vLLM server's log, with its access log

    def posted(self) -> list[str]:
        """The paths the gateway POSTed to vLLM, in order."""
        return [line.split('"POST ')[1].split()[0] for line in self.log.read_text().splitlines() if '"POST ' in line]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    ensure_vllm()
    model = ensure_model(Path.home() / ".cache" / "tollgate" / "tiny-llama")
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    with running_vllm(model, log_path=log) as server:
        for client in _gateway(server, tmp_path_factory.mktemp("gateway-vllm-responses")):
            yield Served(client, log)


def _gateway(server: VLLMServer, workdir: Path) -> Iterator[openai.OpenAI]:
    config = {
        "backends": {"gpu-local": {"type": "vllm", "urls": [server.base_url]}},
        "models": [
            {
                "name": "tiny",
                "deployments": [{"backend": "gpu-local", "model": server.model_name}],
                "pricing": {"gpu_hour_usd": "2.00", "tokens_per_gpu_hour": 4_000_000},
            }
        ],
    }
    key = create_key(config, workdir, "vllm-responses")
    with running_gateway(config, workdir) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_a_response_plain_streamed_and_chained_on_vllm(served: Served) -> None:
    client = served.client
    raw = client.responses.with_raw_response.create(
        model="tiny", input="Say hello", max_output_tokens=16, temperature=0, extra_body=EXACT
    )
    first = raw.parse()
    assert raw.headers["x-tollgate-backend"] == "gpu-local"
    assert first.status == "incomplete" and first.incomplete_details is not None
    assert first.incomplete_details.reason == "max_output_tokens"  # 16 tokens, no end of sequence
    assert first.usage is not None and first.usage.output_tokens == 16 and first.output_text
    assert first.usage.input_tokens > 3  # the ChatML template wraps the message
    assert Decimal(raw.headers["x-tollgate-cost-usd"]) == Decimal(str(first.usage.model_extra["cost"])) > 0

    events = list(
        client.responses.create(
            model="tiny", input="Say hello", max_output_tokens=16, temperature=0, extra_body=EXACT, stream=True
        )
    )
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    last = events[-1]
    assert last.type == "response.completed" and last.response.status == "incomplete"  # vLLM's own events
    assert last.response.usage is not None and last.response.usage.model_extra["cost"] > 0
    assert last.response.output_text == "".join(deltas) == first.output_text  # greedy: the same 16 tokens

    chained = client.responses.create(
        model="tiny", previous_response_id=first.id, input="And again", max_output_tokens=16, extra_body=EXACT
    )
    assert chained.usage is not None and chained.usage.input_tokens > first.usage.input_tokens + 16
    assert client.responses.retrieve(chained.id).output_text == chained.output_text
    assert served.posted() == ["/v1/responses"] * 3  # passed through, never translated to chat
