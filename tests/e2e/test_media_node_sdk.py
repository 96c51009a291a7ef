"""The official OpenAI Node SDK (``tests/node``, installed from npm by ``make node``) for images and
transcriptions against a running Tollgate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_media import TRANSCRIPT
from tests.support.audio_files import tone
from tests.support.usage_events import wait_for_event

NODE_DIR = Path(__file__).parents[1] / "node"


@pytest.fixture(scope="module")
def node() -> str:
    executable = shutil.which("node")
    assert executable, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    return executable


@pytest.fixture(scope="module")
def results(node: str, gateway_url: str, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    audio = tmp_path_factory.mktemp("node") / "speech.wav"
    audio.write_bytes(tone("wav", 3.0))
    env = {**os.environ, "TOLLGATE_URL": f"{gateway_url}/v1", "TOLLGATE_KEY": api_key, "AUDIO_FILE": str(audio)}
    done = subprocess.run(
        [node, "media_sdk.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    decoded: dict[str, Any] = json.loads(done.stdout)
    return decoded


def test_images_from_node(results: dict[str, Any]) -> None:
    images = results["images"]
    assert images["pngs"] == [{"signature": "PNG", "width": 256, "height": 256}] * 2
    assert images["edited"] == {"signature": "PNG", "width": 1024, "height": 1024}
    assert (images["cost"], images["backend"]) == ("0.032000", "sim")  # 2 × $0.016


def test_transcriptions_from_node(results: dict[str, Any], gateway_workdir: Path) -> None:
    heard = results["transcriptions"]
    assert len(heard["text"].split()) == 8  # 3 s at 2.5 words a second, rounded
    assert heard["cost"] == "0.000300"  # 3 s × $0.0001
    assert (heard["verboseText"], heard["words"]) == (TRANSCRIPT, 6)
    assert heard["srt"].startswith("1\n00:00:00,000 --> 00:00:03,000\n")
    event = wait_for_event(gateway_workdir / "tollgate.db", heard["requestId"])
    assert (event["audio_seconds"], event["cost_micros"]) == (3.0, 300)


def test_refusals_reach_node_as_openai_errors(results: dict[str, Any]) -> None:
    refusal = results["refusal"]
    assert (refusal["status"], refusal["code"]) == (400, "invalid_file_format")
    assert refusal["message"].startswith("The file 'notes.wav' could not be read as audio")
