"""The official OpenAI Node SDK (``tests/node``, installed from npm by ``make node``) for image
variations against a running Tollgate."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fakes.openai_server import FakeOpenAI
from tests.support.usage_events import wait_for_event

NODE_DIR = Path(__file__).parents[1] / "node"
SOURCE = (30, 60, 90)


@pytest.fixture(scope="module")
def results(gateway_url: str, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    image = tmp_path_factory.mktemp("node-variations") / "in.png"
    Image.new("RGB", (48, 48), SOURCE).save(image, format="PNG")
    env = {**os.environ, "TOLLGATE_URL": f"{gateway_url}/v1", "TOLLGATE_KEY": api_key, "IMAGE_FILE": str(image)}
    done = subprocess.run(
        [node, "image_variations.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    decoded: dict[str, Any] = json.loads(done.stdout)
    return decoded


def test_simulated_variations_from_node(results: dict[str, Any], gateway_workdir: Path) -> None:
    simulated = results["simulated"]
    assert simulated["pngs"] == [{"signature": "PNG", "width": 256, "height": 256}] * 2
    assert (simulated["cost"], simulated["backend"]) == ("0.032000", "sim")  # 2 × $0.016
    event = wait_for_event(gateway_workdir / "tollgate.db", simulated["requestId"])
    assert (event["endpoint"], event["images"], event["cost_micros"]) == ("images/variations", 2, 32_000)


def test_the_node_sdks_form_reaches_the_provider_whole(
    results: dict[str, Any], fake_openai: tuple[FakeOpenAI, str]
) -> None:
    assert results["provider"]["urls"] == ["https://fake-openai.test/images/img-0.png"]
    [form] = [f for f in fake_openai[0].state.forms if f["fields"].get("user") == ["node-user"]]
    assert form["path"] == "/v1/images/variations"
    assert form["fields"]["model"] == ["image-upstream"] and form["fields"]["size"] == ["256x256"]
    [(filename, content_type, data)] = form["files"]["image"]
    assert (filename, content_type) == ("node.png", "image/png")
    assert Image.open(io.BytesIO(data)).getpixel((0, 0)) == SOURCE  # the upload arrived intact


def test_a_refusal_reaches_node_as_an_openai_error(results: dict[str, Any]) -> None:
    assert results["refusal"] == {"status": 400, "code": "invalid_image_format", "param": "image"}
