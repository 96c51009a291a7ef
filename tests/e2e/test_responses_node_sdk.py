"""``/v1/responses`` through the official OpenAI Node SDK (``tests/node``, installed by ``make node``):
create, stream, a function-call round trip, retrieve, input items, delete, and refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.sim_gateway import SimGateway, started_sim_gateway
from tests.support.usage_events import count_events, wait_for_event

NODE_DIR = Path(__file__).parents[1] / "node"
DRAIN_WAIT = 30.0  # seconds for the journal drain to write a usage event, on a loaded machine


@pytest.fixture(scope="module")
def sim_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimGateway]:
    """A gateway of its own: the schema fuzzer's valid admin calls publish price books on the shared
    one, and these tests check what a response costs."""
    with started_sim_gateway(tmp_path_factory) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def results(sim_gateway: SimGateway) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    env = {
        **os.environ,
        "TOLLGATE_URL": f"{sim_gateway.url}/v1",
        "TOLLGATE_KEY": sim_gateway.keys["alice"],
        "OTHER_KEY": sim_gateway.keys["bob"],
    }
    done = subprocess.run(
        [node, "responses_sdk.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    decoded: dict[str, Any] = json.loads(done.stdout)
    return decoded


def test_a_plain_response_from_node_is_metered_once(results: dict[str, Any], sim_gateway: SimGateway) -> None:
    plain = results["plain"]
    assert plain["status"] == "completed" and plain["text"]
    assert plain["id"].startswith("resp_" + plain["requestId"].removeprefix("req_"))
    usage = plain["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert Decimal(str(usage["cost"])) == Decimal(plain["cost"]) > 0
    database = sim_gateway.workdir / "tollgate.db"
    event = wait_for_event(database, plain["requestId"], DRAIN_WAIT)
    assert event["cost_micros"] == int(Decimal(plain["cost"]).scaleb(6))
    assert count_events(database, plain["requestId"]) == 1


def test_a_stream_from_node(results: dict[str, Any]) -> None:
    streamed = results["streamed"]
    kinds = streamed["kinds"]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert streamed["sequence"] == list(range(len(kinds)))
    assert streamed["text"] == streamed["deltas"] != ""
    assert Decimal(str(streamed["usage"]["cost"])) > 0
    assert streamed["rawKinds"][0] == "response.created" and streamed["rawKinds"][-1] == "response.completed"


def test_a_function_call_round_trip_from_node(results: dict[str, Any]) -> None:
    tools = results["tools"]
    assert tools["call"]["type"] == "function_call" and tools["call"]["name"] == "lookup"
    assert tools["call"]["arguments"]["query"]
    assert tools["answer"]


def test_stored_responses_from_node(results: dict[str, Any]) -> None:
    stored = results["stored"]
    assert stored["text"] == results["plain"]["text"]
    assert stored["items"] == [{"type": "message", "role": "user", "text": "Say hello to the harbour master"}]
    assert stored["foreign"]["status"] == 404  # another customer's response does not exist for bob
    assert stored["deleted"]["status"] == 404


def test_unsupported_tools_are_refused_to_node(results: dict[str, Any]) -> None:
    refused = results["refused"]
    assert (refused["status"], refused["param"]) == (400, "tools[0].type")
    assert "web_search" in refused["message"]
