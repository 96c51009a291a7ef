"""The OpenAI SDK talking to Bedrock models through Tollgate (the shared behaviour of every backend
is in tests/integration/test_backend_conformance.py; this is what is Bedrock's own)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes import bedrock_server
from tests.fakes.bedrock_server import FakeBedrock
from tests.fakes.threaded import serve_in_thread
from tests.support.backend_harness import PNG_PIXEL
from tests.support.fake_gateway import FakeGateway, gateway_on_fake
from tests.support.usage_events import wait_for_event

PRICES = {
    "input_per_mtok": "3",
    "cached_input_per_mtok": "0.30",
    "cache_write_per_mtok": "3.75",
    "output_per_mtok": "15",
}


Gateway = FakeGateway[FakeBedrock]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("bedrock")
    fake = FakeBedrock()
    with serve_in_thread(bedrock_server.build_app(fake)) as url:
        fake.endpoint_url = url
        region = bedrock_server.REGION
        keys = {"access_key_id": bedrock_server.ACCESS_KEY, "secret_access_key": "not-the-secret"}
        config = {
            "backends": {
                # No keys in the config: botocore's credential chain finds them in the environment.
                "bedrock": {"type": "bedrock", "aws_region": region, "endpoint_url": url},
                "bedrock-badkey": {"type": "bedrock", "aws_region": region, "endpoint_url": url, **keys},
                "sim": {"type": "simulator"},
            },
            "models": [
                {
                    "name": "claude",
                    "deployments": [{"backend": "bedrock", "model": bedrock_server.MODEL}],
                    "pricing": PRICES,
                },
                {
                    "name": "claude-profile",
                    "deployments": [{"backend": "bedrock", "model": bedrock_server.PROFILE_ARN}],
                },
                {
                    "name": "claude-badkey",
                    "deployments": [{"backend": "bedrock-badkey", "model": bedrock_server.MODEL}],
                },
                {
                    "name": "claude-or-longer",
                    "deployments": [
                        {"backend": "bedrock", "model": bedrock_server.MODEL},
                        {"backend": "sim", "model": "sim"},
                    ],
                },
            ],
        }
        env = {
            "AWS_ACCESS_KEY_ID": bedrock_server.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": bedrock_server.SECRET_KEY,
            "AWS_CONFIG_FILE": str(workdir / "absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "absent"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        with gateway_on_fake(fake, config, workdir, "acme", env=env) as gateway:
            yield gateway


def test_keys_from_the_environment_sign_an_inference_profile_call(gateway: Gateway) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="claude-profile", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.model == "claude-profile" and completion.choices[0].message.content == "echo: hello there"
    assert raw.headers["x-tollgate-backend"] == "bedrock"
    assert gateway.fake.requests[-1].model_id == bedrock_server.PROFILE_ARN
    assert gateway.fake.rejected_signatures == 0


def test_an_image_reaches_bedrock_as_bytes(gateway: Gateway) -> None:
    completion = gateway.client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_PIXEL}"}},
                ],
            }
        ],
    )
    assert completion.usage is not None and completion.usage.prompt_tokens == 86  # a word and an 85-token image
    sent = gateway.fake.requests[-1].body["messages"][0]["content"][1]
    assert sent == {"image": {"format": "png", "source": {"bytes": PNG_PIXEL}}}


def test_prompt_cache_writes_and_reads_are_billed_at_their_own_prices(gateway: Gateway) -> None:
    rules = {"type": "text", "text": "rule " * 40, "cache_control": {"type": "ephemeral"}}
    messages = [{"role": "system", "content": [rules]}, {"role": "user", "content": "question one"}]
    first = gateway.client.chat.completions.with_raw_response.create(model="claude", messages=messages)  # type: ignore[arg-type]
    second = gateway.client.chat.completions.with_raw_response.create(model="claude", messages=messages)  # type: ignore[arg-type]
    written = wait_for_event(gateway.database, first.headers["x-request-id"])
    read = wait_for_event(gateway.database, second.headers["x-request-id"])
    assert (written["cache_write_tokens"], written["cached_input_tokens"]) == (40, 0)
    assert (read["cache_write_tokens"], read["cached_input_tokens"]) == (0, 40)
    assert written["input_tokens"] == read["input_tokens"] == 2 and written["output_tokens"] == 3
    # $/M: 2 × 3 + 40 × 3.75 + 3 × 15 = 201; then 2 × 3 + 40 × 0.30 + 3 × 15 = 63
    assert (written["cost_micros"], read["cost_micros"]) == (201, 63)
    assert second.headers["x-tollgate-cost-usd"] == "0.000063"


def test_an_input_too_long_for_bedrock_falls_back_to_the_next_deployment(gateway: Gateway) -> None:
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="claude-or-longer", messages=[{"role": "user", "content": "[[too_long]] a very long document"}]
    )
    assert raw.headers["x-tollgate-backend"] == "sim"
    assert raw.parse().choices[0].message.content


def test_a_refused_signature_is_a_502_that_tells_the_client_nothing_of_the_keys(gateway: Gateway) -> None:
    before = gateway.fake.rejected_signatures
    with pytest.raises(openai.APIStatusError) as caught:
        gateway.client.chat.completions.create(model="claude-badkey", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    error = caught.value.response.json()["error"]
    assert error["code"] == "upstream_auth_failed" and "signature" not in error["message"]
    assert gateway.fake.rejected_signatures > before
    event = wait_for_event(gateway.database, caught.value.response.headers["x-request-id"])
    assert event["cost_micros"] == 0
