"""The batch lane beside interactive traffic on a bounded pool (a fake vLLM replica holding four
requests): batch lines take at most the share the config leaves them, wait behind interactive
requests at the lowest priority, and a line refused for lack of room upstream is tried again."""

from __future__ import annotations

import concurrent.futures
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.batches.lines import line_request_id
from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway
from tests.support.upstreams import Upstream, running_upstreams

SLOW = 1.0  # seconds the replica takes per request: long beside any overhead, so waiting a turn shows
BATCH_PRIORITY = 1_000_000


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Upstream, str, str, Path]]:
    workdir = tmp_path_factory.mktemp("batch-share")
    with running_upstreams(["replica"], workdir) as upstreams:
        replica = upstreams["replica"]
        pool = {"type": "vllm", "urls": [replica.base_url], "api_key": API_KEY, "max_outstanding": 4}
        config = {
            "backends": {"pool": {**pool, "priority_scheduling": True}},
            "models": [
                {
                    "name": "m",
                    "deployments": [{"backend": "pool", "model": "m"}],
                    "pricing": {"input_per_mtok": "1", "output_per_mtok": "1"},
                }
            ],
            "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
            "journal_dir": str(workdir / "journal"),
            "batches": {"max_concurrency": 8, "interactive_share": 0.5, "poll_seconds": 0.2, "retry_seconds": 0.2},
        }
        key = create_key(config, workdir, "share-co")
        with running_gateway(config, workdir) as url:
            yield replica, url, key, workdir


def start_batch(url: str, key: str, count: int, prefix: str) -> Any:
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    lines = [
        {
            "custom_id": f"{prefix}-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": f"{prefix} {n}"}]},
        }
        for n in range(count)
    ]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    uploaded = sdk.files.create(file=("in.jsonl", io.BytesIO(content)), purpose="batch")
    return sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")


def wait_done(url: str, key: str, batch_id: str) -> Any:
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    deadline = time.monotonic() + 60
    while (batch := sdk.batches.retrieve(batch_id)).status != "completed":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    return batch


def logged(workdir: Path) -> dict[str, tuple[int, str]]:
    """Request id -> (status, cost) of each batch line in the gateway's access log (one per usage record)."""
    metered = {}
    for line in (workdir / "gateway.log").read_text().splitlines():
        if line.startswith("{") and '"batch_req_' in line:
            entry = json.loads(line)
            metered[entry["request_id"]] = (entry["status"], entry["cost_usd"])
    return metered


def in_flight(replica: Upstream) -> dict[str, int]:
    answer: dict[str, int] = httpx.get(f"{replica.root}/_in_flight", timeout=5).json()
    return answer


def test_batch_lines_leave_the_interactive_share_free_and_go_last(setup: Any) -> None:
    replica, url, key, _ = setup
    replica.faults(slow=SLOW)
    batch = start_batch(url, key, 12, "share")
    time.sleep(3 * SLOW)  # the lane is running lines by now
    chat = {"model": "m", "messages": [{"role": "user", "content": "interactive"}]}
    headers = {"authorization": f"Bearer {key}"}

    def interactive(_: int) -> float:
        started = time.monotonic()
        httpx.post(f"{url}/v1/chat/completions", json=chat, headers=headers, timeout=30).raise_for_status()
        return time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        waits = list(pool.map(interactive, range(2)))
    done = wait_done(url, key, batch.id)
    assert done.request_counts.completed == 12
    # Two of the replica's four slots were the batch's at most; the two interactive requests found
    # the other two free and were answered in one slow turn, not behind the batch.
    assert in_flight(replica)["max_in_flight"] <= 4
    assert max(waits) < 1.9 * SLOW, waits  # queued behind a batch line, one would take two turns
    priorities = httpx.get(f"{replica.root}/_stats", timeout=5).json()["priorities"]
    assert priorities.count(BATCH_PRIORITY) == 12 and priorities.count(0) == 2


def test_alone_the_batch_holds_no_more_than_its_share(setup: Any) -> None:
    replica, url, key, _ = setup
    replica.faults(slow=SLOW)
    before = in_flight(replica)["max_in_flight"]
    batch = start_batch(url, key, 10, "alone")
    peak = 0
    while (status := openai.OpenAI(base_url=f"{url}/v1", api_key=key).batches.retrieve(batch.id).status) != "completed":
        assert status == "in_progress" or status == "finalizing"
        peak = max(peak, in_flight(replica)["in_flight"])
        time.sleep(0.05)
    assert peak == 2 and before <= 4  # floor(4 x (1 - 0.5)) lines at once


def test_a_line_refused_upstream_is_tried_again_and_its_refusal_metered_under_an_id_of_its_own(setup: Any) -> None:
    replica, url, key, workdir = setup
    replica.faults(rate_limit=2, retry_after="0.2")  # more than the router's own tries of one request
    batch = start_batch(url, key, 1, "retry")
    done = wait_done(url, key, batch.id)
    replica.faults()
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 0)
    answer_id = line_request_id(batch.id, "retry-0", 0)
    deadline = time.monotonic() + 10
    while len(metered := {k: v for k, v in logged(workdir).items() if k.startswith(answer_id)}) < 2:
        assert time.monotonic() < deadline, metered  # the access log is written a moment after the answer
        time.sleep(0.1)
    # The refused try was metered at no cost under an id of its own (named after the line's), never
    # the answer's: the answer of a re-run after a crash must not meet a no-cost record under its id.
    assert metered.pop(answer_id)[0] == 200
    assert list(metered.values()) == [(429, "0.000000")]
