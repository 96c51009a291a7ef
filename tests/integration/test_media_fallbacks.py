"""Images and audio take the router's chain like chat does: a failing deployment is fallen back from,
a refusal is not, and each request is metered once, against the deployment that answered.

A real gateway in front of two fake OpenAI upstream processes, driven by the OpenAI SDK (its own
retries off, so any error it saw would surface).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.openai_media import SPEECH_BYTES, TRANSCRIPT
from tests.fakes.openai_server import API_KEY
from tests.support.audio_files import tone
from tests.support.gateway_process import create_key, running_gateway
from tests.support.upstreams import Upstream, running_upstreams
from tests.support.usage_events import wait_for_event


def _config(up: dict[str, Upstream], workdir: Path) -> dict[str, Any]:
    def provider(name: str) -> dict[str, Any]:
        return {"type": "openai_compatible", "base_url": up[name].base_url, "api_key": API_KEY}

    chain = [{"backend": "primary", "model": "upstream-model"}, {"backend": "backup", "model": "upstream-model"}]
    return {
        "backends": {"primary": provider("primary"), "backup": provider("backup")},
        "models": [
            {"name": "paint", "kind": "image", "deployments": chain, "pricing": {"per_image": {"1024x1024": "0.04"}}},
            {"name": "listen", "kind": "transcription", "deployments": chain, "pricing": {"per_audio_second": "0.01"}},
            {"name": "voice", "kind": "speech", "deployments": chain, "pricing": {"per_mchar": "15.00"}},
        ],
        "routing": {"retry": {"attempts": 2, "backoff": 0.01}, "breaker": {"failures": 1000, "cooldown": 60}},
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(["primary", "backup"], tmp_path_factory.mktemp("media-upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-gateway")


@pytest.fixture(scope="module")
def client(upstreams: dict[str, Upstream], workdir: Path) -> Iterator[openai.OpenAI]:
    config = _config(upstreams, workdir)
    key = create_key(config, workdir, "media-fallbacks")
    with running_gateway(config, workdir) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture(autouse=True)
def no_faults(upstreams: dict[str, Upstream]) -> None:
    for upstream in upstreams.values():
        upstream.faults()


def _served(upstreams: dict[str, Upstream]) -> tuple[int, int]:
    return upstreams["primary"].requests(), upstreams["backup"].requests()


def _event(workdir: Path, headers: Any) -> dict[str, Any]:
    return wait_for_event(workdir / "tollgate.db", headers["x-request-id"])


def test_images_fall_back_when_the_first_deployment_fails(
    client: openai.OpenAI, upstreams: dict[str, Upstream], workdir: Path
) -> None:
    upstreams["primary"].faults(fail=100, status=503)
    before = _served(upstreams)
    raw = client.images.with_raw_response.generate(model="paint", prompt="a red fox", size="1024x1024")
    assert raw.headers["x-tollgate-backend"] == "backup"
    assert raw.parse().data is not None and len(raw.parse().data or []) == 1
    primary, backup = (after - then for after, then in zip(_served(upstreams), before, strict=True))
    assert (primary, backup) == (2, 1)  # `attempts: 2` on the primary's one replica, then the backup
    event = _event(workdir, raw.headers)
    assert (event["deployment"], event["outcome"], event["images"], event["cost_micros"]) == ("backup", "ok", 1, 40_000)


def test_a_transcription_falls_back_and_the_upload_is_sent_again_whole(
    client: openai.OpenAI, upstreams: dict[str, Upstream], workdir: Path
) -> None:
    upstreams["primary"].faults(rate_limit=100, retry_after="0")
    raw = client.audio.transcriptions.with_raw_response.create(
        model="listen", file=("talk.wav", tone("wav", 2.0), "audio/wav"), response_format="json"
    )
    assert raw.parse().text == TRANSCRIPT
    assert raw.headers["x-tollgate-backend"] == "backup"
    event = _event(workdir, raw.headers)
    assert (event["deployment"], event["outcome"], event["cost_micros"]) == ("backup", "ok", 20_000)  # 2 s


def test_speech_falls_back_before_its_first_byte(
    client: openai.OpenAI, upstreams: dict[str, Upstream], workdir: Path
) -> None:
    upstreams["primary"].faults(fail=100, status=500)
    with client.audio.speech.with_streaming_response.create(model="voice", voice="alloy", input="Hello there") as raw:
        assert raw.headers["x-tollgate-backend"] == "backup"
        assert raw.read() == SPEECH_BYTES
        headers = raw.headers
    event = _event(workdir, headers)
    assert (event["deployment"], event["outcome"], event["cost_micros"]) == ("backup", "ok", 165)  # 11 chars


def test_when_every_deployment_fails_the_client_gets_one_error_and_pays_nothing(
    client: openai.OpenAI, upstreams: dict[str, Upstream], workdir: Path
) -> None:
    for upstream in upstreams.values():
        upstream.faults(fail=100, status=502)
    with pytest.raises(openai.InternalServerError) as failed:
        client.images.generate(model="paint", prompt="a red fox")
    assert failed.value.status_code == 502
    event = _event(workdir, failed.value.response.headers)
    assert (event["deployment"], event["outcome"], event["cost_micros"]) == ("backup", "upstream_error", 0)


def test_a_refusal_is_the_answer_and_is_not_tried_elsewhere(
    client: openai.OpenAI, upstreams: dict[str, Upstream], workdir: Path
) -> None:
    before = _served(upstreams)
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="paint", prompt="trigger:policy")
    assert refused.value.code == "content_policy_violation"
    primary, backup = (after - then for after, then in zip(_served(upstreams), before, strict=True))
    assert (primary, backup) == (1, 0)
    event = _event(workdir, refused.value.response.headers)
    assert (event["deployment"], event["outcome"], event["cost_micros"]) == ("primary", "upstream_error", 0)
