"""What stops and starts a sleeping pool, over real HTTP: ``tollgate pool serve``'s control endpoint
(bearer token, stop, start) driven by the gateway's client, and vLLM's sleep mode (``/sleep``,
``/wake_up?tags=...``) driven through a pool's Wake, against a fake of vLLM's dev endpoints (the
real ones need a GPU)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import aiohttp
import aiohttp.web
import httpx
import msgspec
import pytest

from backends.base import BackendContext
from backends.http import build_client
from backends.http_exchange import StatusRefused
from backends.vllm import PoolControl, ServeControl, VLLMConfig, replicas_of
from gateway.config.routing import BreakerSettings
from gateway.pools.activity import Activity, Busy
from gateway.pools.control import control_server, serve_in_thread
from gateway.routing.replicas import Replica
from gateway.routing.wake import Phase
from gateway.routing.wake_control import SleepMode, control_of, wake_of
from gateway.tokens import Tokenizer
from tests.fakes.threaded import serve_in_thread as serve_app
from tests.fakes.vllm_sleep import FakeSleepingVLLM
from tests.support.ports import free_port

TOKEN = "control-token-0123456789"


class FakeFleet:
    name = "gpu"

    def __init__(self) -> None:
        self.up = True
        self.busy = False
        self.calls: list[str] = []

    def running(self) -> bool:
        return self.up

    def stop_idle(self) -> None:
        if self.busy:
            raise Busy("the engines worked 1 s ago (idle_after 60 s)")
        self.calls.append("stop")
        self.up = False

    def start(self) -> None:
        self.calls.append("start")
        self.up = True


@pytest.fixture
def control() -> Iterator[tuple[PoolControl, FakeFleet]]:
    settings = PoolControl(url=f"http://127.0.0.1:{free_port()}", token=TOKEN)
    fleet = FakeFleet()
    server = control_server(settings, fleet)
    serve_in_thread(server)
    try:
        yield settings, fleet
    finally:
        server.shutdown()
        server.server_close()


def test_the_control_endpoint_wants_the_token(control: tuple[PoolControl, FakeFleet]) -> None:
    settings, fleet = control
    for headers in ({}, {"authorization": "Bearer wrong-token-0123456789"}, {"authorization": f"Basic {TOKEN}"}):
        refused = httpx.post(f"{settings.url}/pool/stop", headers=headers)
        assert refused.status_code == 401
        assert httpx.get(f"{settings.url}/pool", headers=headers).status_code == 401
    assert fleet.calls == [] and fleet.up
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{settings.url}/pool/reboot", headers=auth).status_code == 404
    assert httpx.get(f"{settings.url}/pool", headers=auth).json() == {"pool": "gpu", "state": "running"}


async def test_the_gateway_stops_and_starts_the_pool(control: tuple[PoolControl, FakeFleet]) -> None:
    settings, fleet = control
    async with build_client() as http:
        client = ServeControl(http, settings)
        await client.stop()
        assert fleet.calls == ["stop"] and not fleet.up
        await client.start()
        assert fleet.calls == ["stop", "start"] and fleet.up
        with pytest.raises(StatusRefused) as refused:  # another token: refused, nothing done
            await ServeControl(http, PoolControl(url=settings.url, token="x" * 24)).stop()
    assert refused.value.status == 401 and fleet.up


async def test_a_pool_another_gateway_still_uses_is_not_stopped(control: tuple[PoolControl, FakeFleet]) -> None:
    settings, fleet = control
    fleet.busy = True
    async with build_client() as http:
        with pytest.raises(StatusRefused) as refused:  # the gateway's Wake keeps the pool awake
            await ServeControl(http, settings).stop()
    state = await asyncio.to_thread(httpx.get, f"{settings.url}/pool", headers={"authorization": f"Bearer {TOKEN}"})
    assert state.json()["state"] == "running"
    assert refused.value.status == 409 and fleet.calls == []


class Engine:
    """A vLLM server's /metrics as the test sets it: running, waiting, finished requests."""

    def __init__(self) -> None:
        self.running = self.waiting = self.finished = 0
        self.app = aiohttp.web.Application()
        self.app.add_routes([aiohttp.web.get("/metrics", self.metrics)])

    async def metrics(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        labels = '{model_name="tiny-llama",engine="0"}'
        text = (
            f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{labels} {self.running}.0\n"
            f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{labels} {self.waiting}.0\n"
            "# HELP vllm:request_success_total Count of successfully processed requests.\n"
            "# TYPE vllm:request_success_total counter\n"
            f'vllm:request_success_total{{model_name="tiny-llama",finished_reason="stop"}} {self.finished}.0\n'
        )
        return aiohttp.web.Response(text=text, content_type="text/plain")


def test_pool_serve_knows_the_engines_worked_from_their_own_metrics() -> None:
    engine = Engine()
    clock = [100.0]
    activity = Activity(idle_after=10, clock=lambda: clock[0])
    with serve_app(engine.app) as root:
        activity.look([root])
        clock[0] += 9
        activity.check_idle()  # within the slack of the looks a second apart
        engine.finished = 3  # another gateway's requests, answered between two looks
        activity.look([root])
        clock[0] += 5
        with pytest.raises(Busy, match="worked 5 s ago"):
            activity.check_idle()
        engine.running = 1
        clock[0] += 20
        activity.look([root])  # one still running
        with pytest.raises(Busy):
            activity.check_idle()
        engine.running = 0
        activity.look([root])
        clock[0] += 8
        activity.check_idle()
        activity.look([root, "http://127.0.0.1:9"])  # a server that cannot be read tells nothing
        activity.check_idle()


def test_a_control_token_too_short_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="at least 16"):
        msgspec.convert({"url": "http://127.0.0.1:1", "token": "short"}, PoolControl)


@pytest.fixture
def sleepy() -> Iterator[tuple[FakeSleepingVLLM, str]]:
    fake = FakeSleepingVLLM()
    with serve_app(fake.app) as url:
        yield fake, url


async def test_sleep_mode_sleeps_and_wakes_every_replica_weights_first(sleepy: tuple[FakeSleepingVLLM, str]) -> None:
    fake, url = sleepy
    config = msgspec.convert(
        {"urls": [f"{url}/v1"], "min_replicas": 0, "idle_after": "2s", "sleep_mode": True, "max_cold_start_wait": 5},
        VLLMConfig,
    )
    http = build_client()
    try:
        ctx = BackendContext(http=http, tokens=Tokenizer())
        replicas = [Replica(b.url, b, BreakerSettings()) for b in replicas_of("gpu", config, ctx)]
        assert isinstance(control_of(config, replicas), SleepMode)
        clock = [time.monotonic()]
        wake = wake_of("gpu", config, replicas, lambda: clock[0])
        assert wake is not None and wake.idle_after == 2.0
        clock[0] += 2
        assert wake.idle(busy=False)
        await _until(lambda: fake.asleep == {"weights", "kv_cache"})
        assert fake.calls == [("/sleep", [("level", "1")])]
        await wake.admit(last_resort=True)
        assert wake.phase is Phase.AWAKE and not fake.asleep
        assert fake.calls[1:] == [("/wake_up", [("tags", "weights")]), ("/wake_up", [("tags", "kv_cache")])]
    finally:
        await http.close()


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
