"""Bad media requests: a 400 (or 413) that names the problem, metered as an error and charged nothing.

Refusals that come before the model is known (no key, unknown model, a body that is not a form,
an upload over the gateway's own limit) leave no usage event, as on every other endpoint. Limits
and credits from admission apply to images and audio as they do to text.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.conftest import MAX_UPLOAD_BYTES
from tests.fakes.openai_media import BAD_FORMAT, POLICY
from tests.support.audio_files import tone
from tests.support.gateway_process import create_key
from tests.support.usage_events import count_events, wait_for_event


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def database(gateway_workdir: Path) -> Path:
    return gateway_workdir / "tollgate.db"


def refused_at_no_cost(database: Path, error: openai.APIStatusError, status: int) -> dict[str, Any]:
    assert error.status_code == status
    event = wait_for_event(database, error.response.headers["x-request-id"])
    assert (event["outcome"], event["status"], event["cost_micros"], event["deployment"]) == (
        "invalid_request",
        status,
        0,
        None,
    )
    return event


def transcribe(client: openai.OpenAI, model: str, name: str, data: bytes, **options: Any) -> Any:
    return client.audio.transcriptions.create(model=model, file=(name, data, "application/octet-stream"), **options)


def test_a_corrupt_audio_file_is_refused_and_not_charged(client: openai.OpenAI, database: Path) -> None:
    corrupt = tone("mp3", 2.0)[:300] + bytes(5000)
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, "sim-whisper", "broken.mp3", corrupt)
    assert "The file 'broken.mp3' could not be read as audio" in caught.value.message
    assert caught.value.code == "invalid_file_format" and caught.value.param == "file"
    event = refused_at_no_cost(database, caught.value, 400)
    assert event["endpoint"] == "audio/transcriptions" and event["audio_seconds"] == 0


def test_a_file_that_is_not_audio_lists_the_formats_taken(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, "fake-whisper", "photo.png", _png())
    assert "could not be read as audio in a supported format (flac, m4a, mp3, mp4" in caught.value.message
    refused_at_no_cost(database, caught.value, 400)


def test_audio_longer_than_the_model_takes(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, "sim-whisper", "long.mp3", tone("mp3", 31.0))
    assert caught.value.code == "audio_too_long"
    assert "is 31.0 s long; the model 'sim-whisper' takes at most 30 s" in caught.value.message
    refused_at_no_cost(database, caught.value, 400)


def test_an_upload_over_the_model_limit_is_413_and_metered(client: openai.OpenAI, database: Path) -> None:
    big = tone("wav", 10.0)  # 320 kB: under the gateway's 400 kB, over the model's 300 kB
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(client, "sim-whisper", "big.wav", big)
    assert "takes at most 300000 bytes" in caught.value.message
    refused_at_no_cost(database, caught.value, 413)


def test_an_upload_over_the_gateway_limit_stops_being_read(gateway_url: str, api_key: str, database: Path) -> None:
    def body() -> Any:  # streamed, without a content-length: the limit must hold while reading
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        yield head
        for _ in range(MAX_UPLOAD_BYTES // 10_000 + 50):
            yield bytes(10_000)

    response = httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        headers={"authorization": f"Bearer {api_key}", "content-type": "multipart/form-data; boundary=b"},
        content=body(),
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    time.sleep(0.5)
    assert count_events(database, response.headers["x-request-id"]) == 0  # the model was never read


def test_granularities_need_verbose_json(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, "sim-whisper", "a.wav", tone("wav", 1.0), timestamp_granularities=["word"])
    assert caught.value.param == "timestamp_granularities"
    refused_at_no_cost(database, caught.value, 400)


def test_an_image_size_the_model_does_not_price(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sim-image", prompt="x", size="512x512")
    assert _message(caught.value) == (
        "This model does not offer 512x512 images of quality 'standard'; "
        "it offers: 1024x1024/high, 1024x1024/standard, 1536x1024/high, 256x256."
    )
    event = refused_at_no_cost(database, caught.value, 400)
    assert event["images"] == 0
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sim-image", prompt="x", size="huge")
    assert "expected 'auto' or WIDTHxHEIGHT" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sim-image", prompt="x", size="256x256", n=5)
    assert caught.value.param == "n"


def test_a_corrupt_image_to_edit(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(model="fake-image", image=("in.png", _png()[:60], "image/png"), prompt="x")
    assert caught.value.code == "invalid_image_format" and "The file 'in.png' is not a valid image" in str(caught.value)
    refused_at_no_cost(database, caught.value, 400)


def test_speech_refusals(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="sim-tts", voice="alloy", input="x" * 301)
    assert "'input' is 301 characters long; this model takes at most 300" in caught.value.message
    refused_at_no_cost(database, caught.value, 400)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="sim-tts", voice="alloy", input="hi", stream_format="sse")
    assert caught.value.param == "stream_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="sim-tts", voice="alloy", input="hi", response_format="ogg")  # type: ignore[arg-type]
    assert caught.value.param == "response_format"


def test_provider_refusals_keep_their_message_and_are_not_charged(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="fake-image", prompt="trigger:policy")
    assert (_message(caught.value), caught.value.code) == (POLICY, "content_policy_violation")
    event = wait_for_event(database, caught.value.response.headers["x-request-id"])
    assert (event["outcome"], event["status"], event["cost_micros"], event["deployment"]) == (
        "upstream_error",
        400,
        0,
        "fake-openai",
    )
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(client, "fake-whisper", "a.wav", tone("wav", 1.0), prompt="trigger:format")
    assert _message(caught.value) == BAD_FORMAT
    with pytest.raises(openai.InternalServerError):
        client.audio.speech.create(model="fake-tts", voice="alloy", input="trigger:status:500")


def test_speech_cut_by_the_provider_mid_stream_is_not_charged(gateway_url: str, api_key: str, database: Path) -> None:
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            f"{gateway_url}/v1/audio/speech",
            headers={"authorization": f"Bearer {api_key}"},
            json={"model": "fake-tts", "voice": "alloy", "input": "trigger:break"},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        response.read()
    event = wait_for_event(database, request_id)
    assert (event["outcome"], event["cost_micros"]) == ("upstream_error", 0)


def test_speech_the_client_abandons_is_billed_in_full(gateway_url: str, api_key: str, database: Path) -> None:
    text = "trigger:stall and then some more words"
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/audio/speech",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": "fake-tts", "voice": "alloy", "input": text},
    ) as response:
        request_id = response.headers["x-request-id"]
        assert next(response.iter_raw())  # the first piece came; the upstream stalls and we leave
    event = wait_for_event(database, request_id)
    # The upstream was asked to speak every character: 38 × $15/M = 570 micro-dollars.
    assert (event["outcome"], event["status"], event["characters"], event["cost_micros"]) == (
        "client_disconnect",
        499,
        38,
        570,
    )


def test_what_is_refused_before_the_model_is_known_is_not_metered(
    gateway_url: str, api_key: str, client: openai.OpenAI, database: Path
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="sim-chat", prompt="x")
    assert caught.value.code == "unsupported_operation"
    with pytest.raises(openai.BadRequestError) as caught:  # vLLM serves no images
        client.images.generate(model="vllm-image", prompt="x")
    assert caught.value.code == "unsupported_operation"
    auth = {"authorization": f"Bearer {api_key}"}
    not_a_form = httpx.post(f"{gateway_url}/v1/audio/transcriptions", headers=auth, json={"model": "sim-whisper"})
    assert (not_a_form.status_code, not_a_form.json()["error"]["code"]) == (400, "invalid_content_type")
    wrong_method = httpx.get(f"{gateway_url}/v1/audio/speech", headers=auth)
    assert wrong_method.status_code == 405
    time.sleep(0.5)
    for request_id in (caught.value.response.headers["x-request-id"], not_a_form.headers["x-request-id"]):
        assert count_events(database, request_id) == 0


def test_a_key_limited_to_other_models_gets_404_as_for_no_such_model(
    gateway_url: str, shared_config: dict[str, Any], gateway_workdir: Path
) -> None:
    key = create_key(shared_config, gateway_workdir, "chat-only", "--models", "sim-chat")
    limited = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        transcribe(limited, "sim-whisper", "a.wav", tone("wav", 1.0))
    assert caught.value.code == "model_not_found"


def test_requests_per_minute_hold_for_audio(
    gateway_url: str, shared_config: dict[str, Any], gateway_workdir: Path
) -> None:
    key = create_key(shared_config, gateway_workdir, "rpm-audio", "--rpm", "2")
    limited = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    audio = tone("flac", 1.0)
    for _ in range(2):
        transcribe(limited, "sim-whisper", "a.flac", audio)
    with pytest.raises(openai.RateLimitError) as caught:
        transcribe(limited, "sim-whisper", "a.flac", audio)
    assert caught.value.response.headers["retry-after"]


def test_prepaid_credits_pay_for_images_and_run_out(
    gateway_url: str, shared_config: dict[str, Any], gateway_workdir: Path
) -> None:
    _cli(shared_config, gateway_workdir, "customers", "create", "prepaid-images", "--prepaid")
    _cli(shared_config, gateway_workdir, "credits", "add", "--customer", "prepaid-images", "--usd", "0.05")
    key = create_key(shared_config, gateway_workdir, "prepaid-images")
    prepaid = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    first = prepaid.images.with_raw_response.generate(model="sim-image", prompt="x", size="1024x1024")
    assert first.headers["x-tollgate-cost-usd"] == "0.040000"
    with pytest.raises(openai.APIStatusError) as caught:  # $0.01 left cannot pay for another $0.04
        prepaid.images.generate(model="sim-image", prompt="x", size="1024x1024")
    assert (caught.value.status_code, caught.value.code) == (402, "insufficient_quota")
    heard = prepaid.audio.transcriptions.with_raw_response.create(
        model="sim-whisper", file=("a.wav", tone("wav", 2.0), "audio/wav")
    )
    assert heard.headers["x-tollgate-cost-usd"] == "0.000200"  # what is left still pays for 2 s of audio


def _message(error: openai.APIStatusError) -> str:
    """The error envelope's message, as sent (the SDK's ``message`` adds the status in front)."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _cli(config: dict[str, Any], workdir: Path, *args: str) -> None:
    path = workdir / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "gateway", *args, "--config", str(path)], cwd=workdir, timeout=60, check=True)
