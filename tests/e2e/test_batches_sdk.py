"""Files and batches through the official OpenAI Python SDK (and once through the Node SDK) against a
gateway on the simulator: upload, create, poll to completed, download the output, cancel, another
customer's 404s, and input files that fail validation. The lines are metered once each, under ids
derived from the batch and the custom id, at the price book's batch discount."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import openai
import pytest

from gateway.batches.lines import line_request_id
from gateway.metering.record import UsageRecord, decode_record
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config

NODE_DIR = Path(__file__).parents[1] / "node"
# Far above the gateway's JSON body limit (64 KiB in sim_config), far below OpenAI's 200 MB.
FILE_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("batches")
    config = sim_config(workdir, batches={"max_concurrency": 2, "poll_seconds": 0.2, "max_file_bytes": FILE_LIMIT})
    config["backends"]["slow"] = {"type": "simulator", "ttft_ms": 300}
    config["models"].append({"name": "sim-slow", "deployments": [{"backend": "slow", "model": "sim"}]})
    with running_gateway(config, workdir) as url:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
            keys = {name: add_customer(admin, name) for name in ("alice", "bob")}
            one_at_a_time = {"customer": "alice", "name": "serial", "max_concurrency": 1}
            keys["alice-serial"] = admin.post("/admin/keys", json=one_at_a_time).json()["key"]
        yield url, workdir, keys


def client(gateway: tuple[str, Path, dict[str, str]], name: str) -> openai.OpenAI:
    url, _, keys = gateway
    return openai.OpenAI(base_url=f"{url}/v1", api_key=keys[name], max_retries=0)


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def chat_line(custom_id: str, text: str, model: str = "sim-chat") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 20}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(sdk: openai.OpenAI, content: bytes) -> str:
    return sdk.files.create(file=("requests.jsonl", io.BytesIO(content)), purpose="batch").id


def wait_for(sdk: openai.OpenAI, batch_id: str, statuses: set[str], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sdk.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} stayed {batch.status}")


def journaled(workdir: Path) -> list[UsageRecord]:
    records = []
    for segment in (workdir / "journal").rglob("*.jsonl"):
        for line in segment.read_bytes().splitlines():
            try:
                records.append(decode_record(line))
            except msgspec.DecodeError:
                continue
    return records


def test_a_chat_batch_runs_to_completed_and_each_line_is_metered_once_at_half_price(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    lines = [chat_line(f"q-{n}", f"question number {n}") for n in range(5)]
    file_id = upload(sdk, jsonl(lines))
    assert sdk.files.retrieve(file_id).purpose == "batch"
    created = sdk.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "one"}
    )
    assert created.status == "in_progress" and created.metadata == {"run": "one"}
    assert created.request_counts is not None and created.request_counts.total == 5
    done = wait_for(sdk, created.id, {"completed", "failed"})
    assert done.status == "completed" and done.completed_at is not None and done.error_file_id is None
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (5, 0)
    assert done.output_file_id is not None
    output = [json.loads(line) for line in sdk.files.content(done.output_file_id).text.splitlines()]
    assert sorted(line["custom_id"] for line in output) == [f"q-{n}" for n in range(5)]
    for line in output:
        assert line["error"] is None and line["response"]["status_code"] == 200
        assert line["response"]["body"]["choices"][0]["message"]["content"]
        assert line["response"]["request_id"] == line_request_id(created.id, line["custom_id"], 0)
    assert sdk.files.retrieve(done.output_file_id).purpose == "batch_output"
    records = {r.request_id: r for r in journaled(gateway[1]) if r.request_id.startswith("batch_req_")}
    for line in output:
        record = records.pop(line["response"]["request_id"])
        usage = line["response"]["body"]["usage"]
        full = Decimal(usage["prompt_tokens"]) * 1 + Decimal(usage["completion_tokens"]) * 2  # micros, SIM_PRICES
        assert record.cost_micros == int((full / 2).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert Decimal(str(usage["cost"])) == Decimal(record.cost_micros).scaleb(-6)
    assert sdk.batches.retrieve(created.id).status == "completed"
    assert created.id in [batch.id for batch in sdk.batches.list()]


def test_an_embeddings_batch_answers_vectors(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    body = {"model": "sim-embed", "input": "hello"}
    line = {"custom_id": "e-1", "method": "POST", "url": "/v1/embeddings", "body": body}
    batch = sdk.batches.create(
        input_file_id=upload(sdk, jsonl([line])), endpoint="/v1/embeddings", completion_window="24h"
    )
    done = wait_for(sdk, batch.id, {"completed", "failed"})
    assert done.status == "completed" and done.output_file_id is not None
    (answer,) = [json.loads(line) for line in sdk.files.content(done.output_file_id).text.splitlines()]
    assert len(answer["response"]["body"]["data"][0]["embedding"]) == 384


def test_a_responses_batch_answers_response_objects(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    body = {"model": "sim-chat", "input": "hello there", "instructions": "be brief", "max_output_tokens": 64}
    line = {"custom_id": "r-1", "method": "POST", "url": "/v1/responses", "body": body}
    batch = sdk.batches.create(
        input_file_id=upload(sdk, jsonl([line])), endpoint="/v1/responses", completion_window="24h"
    )
    done = wait_for(sdk, batch.id, {"completed", "failed"})
    assert done.status == "completed" and done.output_file_id is not None
    (answer,) = [json.loads(line) for line in sdk.files.content(done.output_file_id).text.splitlines()]
    response = answer["response"]["body"]
    assert response["object"] == "response" and response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"] and response["usage"]["output_tokens"] > 0


def test_a_key_allowed_one_request_at_a_time_has_its_batch_slowed_not_failed(gateway: Any) -> None:
    sdk = client(gateway, "alice-serial")
    batch = create(sdk, [chat_line(f"serial-{n}", f"one at a time {n}", model="sim-slow") for n in range(4)])
    done = wait_for(sdk, batch.id, {"completed", "failed"})
    assert done.request_counts is not None
    assert (done.status, done.request_counts.completed, done.request_counts.failed) == ("completed", 4, 0)


def test_lines_for_a_model_the_key_cannot_use_land_in_the_error_file(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    batch = create(sdk, [chat_line(f"nope-{n}", "hi", model="no-such-model") for n in range(2)])
    done = wait_for(sdk, batch.id, {"completed", "failed"})
    assert done.status == "completed" and done.output_file_id is None and done.error_file_id is not None
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (0, 2)
    errors = [json.loads(line) for line in sdk.files.content(done.error_file_id).text.splitlines()]
    assert [error["custom_id"] for error in errors] == ["nope-0", "nope-1"]
    for error in errors:
        assert error["response"]["status_code"] == 404
        assert error["response"]["body"]["error"]["code"] == "model_not_found"


def test_cancelling_stops_the_batch_with_the_lines_already_done(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    lines = [chat_line(f"slow-{n}", f"slow {n}", model="sim-slow") for n in range(20)]
    batch = create(sdk, lines)
    deadline = time.monotonic() + 30
    while sdk.batches.retrieve(batch.id).request_counts.completed < 2:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert sdk.batches.cancel(batch.id).status == "cancelling"
    done = wait_for(sdk, batch.id, {"cancelled"})
    assert done.cancelled_at is not None and done.request_counts is not None
    assert 2 <= done.request_counts.completed < 20
    output = sdk.files.content(done.output_file_id).text.splitlines()  # type: ignore[arg-type]
    assert len(output) == done.request_counts.completed


def test_a_finished_batch_cannot_be_cancelled(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    batch = create(sdk, [chat_line("x", "y")])
    wait_for(sdk, batch.id, {"completed"})
    with pytest.raises(openai.ConflictError, match="completed"):
        sdk.batches.cancel(batch.id)


def test_another_customer_sees_none_of_the_files_and_batches(gateway: Any) -> None:
    alice, bob = client(gateway, "alice"), client(gateway, "bob")
    batch = create(alice, [chat_line("private", "alice's secret question")])
    done = wait_for(alice, batch.id, {"completed"})
    for file_id in (batch.input_file_id, done.output_file_id):
        assert file_id is not None
        for attempt in (bob.files.retrieve, bob.files.content, bob.files.delete):
            with pytest.raises(openai.NotFoundError):
                attempt(file_id)
        assert alice.files.retrieve(file_id).id == file_id  # still there for Alice
    for attempt in (bob.batches.retrieve, bob.batches.cancel):
        with pytest.raises(openai.NotFoundError):
            attempt(batch.id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.create(input_file_id=batch.input_file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.id not in [b.id for b in bob.batches.list()]
    assert not {batch.input_file_id, done.output_file_id} & {f.id for f in bob.files.list()}


def test_deleting_a_file_removes_it(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    file_id = upload(sdk, jsonl([chat_line("d", "delete me")]))
    assert sdk.files.delete(file_id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(file_id)


@pytest.mark.parametrize(
    ("content", "code", "line"),
    [
        (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {\n', "invalid_json_line", 1),
        (jsonl([chat_line("same", "one"), chat_line("same", "two")]), "duplicate_custom_id", 2),
        (jsonl([{**chat_line("u", "x"), "url": "/v1/embeddings"}]), "mismatched_endpoint", 1),
        (jsonl([{**chat_line("m", "x"), "method": "GET"}]), "invalid_method", 1),
        (jsonl([{k: v for k, v in chat_line("c", "x").items() if k != "custom_id"}]), "missing_required_parameter", 1),
        (jsonl([chat_line("a", "x"), chat_line("b", "x", model="sim-slow")]), "mismatched_model", 2),
        (jsonl([{**chat_line("s", "x"), "body": {"model": "sim-chat", "messages": "hi"}}]), "invalid_type", 1),
    ],
    ids=["json", "duplicate", "url", "method", "custom_id", "model", "body"],
)
def test_a_malformed_input_file_fails_the_batch_with_its_line(
    gateway: Any, content: bytes, code: str, line: int
) -> None:
    sdk = client(gateway, "alice")
    batch = sdk.batches.create(
        input_file_id=upload(sdk, content), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "failed" and batch.failed_at is not None and batch.errors is not None
    assert [(e.code, e.line) for e in batch.errors.data or []] == [(code, line)]
    assert sdk.batches.retrieve(batch.id).status == "failed"


def test_requests_that_cannot_make_a_batch_are_400_or_404(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    file_id = upload(sdk, jsonl([chat_line("a", "x")]))
    with pytest.raises(openai.BadRequestError, match="not a batch endpoint"):
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/completions", completion_window="24h")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        sdk.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="1h")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="purpose"):
        sdk.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="assistants")
    with pytest.raises(openai.BadRequestError, match="empty"):
        sdk.files.create(file=("x.jsonl", io.BytesIO(b"")), purpose="batch")


def create(sdk: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    file_id = upload(sdk, jsonl(lines))
    return sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")


def test_uploads_take_files_past_the_json_limit_up_to_the_file_limit(gateway: Any) -> None:
    sdk = client(gateway, "alice")
    lines = [chat_line(f"big-{n}", "x" * 900) for n in range(600)]  # about 600 KB
    content = jsonl(lines)
    assert 65536 < len(content) < FILE_LIMIT
    uploaded = sdk.files.create(file=("big.jsonl", io.BytesIO(content)), purpose="batch")
    assert uploaded.bytes == len(content) and sdk.files.content(uploaded.id).content == content
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.files.create(file=("huge.jsonl", io.BytesIO(content * 2)), purpose="batch")
    assert refused.value.status_code == 413


def test_the_node_sdk_runs_a_batch_and_sees_only_its_own(gateway: Any) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install nodejs npm"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "the Node SDK is not installed: run `make node`"
    url, _, keys = gateway
    env = {**os.environ, "TOLLGATE_URL": f"{url}/v1", "TOLLGATE_KEY": keys["alice"], "OTHER_KEY": keys["bob"]}
    done = subprocess.run(
        [node, "batches_sdk.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"] == {"purpose": "batch", "bytes": seen["file"]["size"], "size": seen["file"]["size"]}
    assert seen["batch"]["status"] == "completed" and seen["batch"]["metadata"] == {"from": "node"}
    assert seen["batch"]["counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert sorted(line["custom_id"] for line in seen["output"]) == ["node-0", "node-1", "node-2"]
    assert all(line["response"]["status_code"] == 200 for line in seen["output"])
    assert seen["listed"] is True
    assert (seen["otherRetrieve"], seen["otherContent"], seen["cancelFinished"]) == (404, 404, 409)
