"""A pool of vLLM OpenAI-compatible servers: its config, and one backend per replica.

vLLM speaks the OpenAI API, so a replica reuses :mod:`backends.openai_compatible` and adds only what
vLLM has beyond it: the ``/health`` probe, the engine's own load on ``/metrics``, and what it serves:
text, embeddings, and ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` for Whisper-class
models; no images and no speech. Which replica serves a request is the gateway's router's choice
(``gateway/routing``), made from the pool's ``strategy`` over the state of every replica.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlencode

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from backends.base import BackendContext, Operation
from backends.http_client import HTTPClient
from backends.http_exchange import HTTPFault, Timeout
from backends.openai_compatible import OpenAICompatibleBackend, Timeouts
from backends.vllm_launch import VLLMLaunch

_NOT_SERVED = frozenset({Operation.IMAGES, Operation.IMAGE_EDITS, Operation.IMAGE_VARIATIONS, Operation.SPEECH})

Strategy = Literal["least_outstanding", "round_robin", "latency", "affinity", "load_aware"]
Positive = Annotated[int, msgspec.Meta(ge=1)]
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: float | str) -> float:
    """Seconds from a number of seconds or a string such as ``90s``, ``15m`` or ``1h``."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower()
        unit = _UNITS.get(text[-1:])
        try:
            seconds = float(text[:-1]) * unit if unit is not None else float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (seconds, or a number with s, m or h)") from None
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be more than zero")
    return seconds


class PoolControl(msgspec.Struct, forbid_unknown_fields=True):
    """Where ``tollgate pool serve`` listens for the gateway's stop and start (``url``), and the token
    both sides share: give it as ``${ENV}`` so it stays out of the file."""

    url: str
    token: str

    def __post_init__(self) -> None:
        if len(self.token) < 16:
            raise ValueError("control.token must be at least 16 characters")


class VLLMConfig(msgspec.Struct, tag="vllm", forbid_unknown_fields=True):
    urls: list[str]
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None
    strategy: Strategy = "least_outstanding"
    # Requests in flight on one replica beyond which it counts as saturated: affinity spills over to
    # another replica, and when every replica is saturated requests wait in the pool's queue.
    max_outstanding: Positive | None = None
    queue_size: Positive = 256
    max_queue_wait: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # The servers run with ``--scheduling-policy priority``: pass the key's priority tier along.
    # Implied when ``launch.scheduling`` is ``priority``, since then Tollgate starts them that way.
    priority_scheduling: bool = False
    # How to start this pool's servers (``tollgate pool serve``, the Helm chart); one per url.
    launch: VLLMLaunch | None = None
    # Scale to zero (docs/routing-vllm.md): with ``min_replicas: 0`` the pool sleeps once it has had
    # no request for ``idle_after`` (seconds, or "15m"), and the next request wakes it, waiting at
    # most ``max_cold_start_wait`` for a healthy replica (a fallback deployment serves meanwhile).
    # It is stopped by ``tollgate pool serve`` (``control``), put to sleep by vLLM's own sleep mode
    # (``sleep_mode``, GPU only: the weights leave the GPU, the process stays), or, with neither,
    # left to an outside autoscaler (KEDA, on ``tollgate_pool_pending_requests``).
    min_replicas: Annotated[int, msgspec.Meta(ge=0)] | None = None
    idle_after: float | str | None = None
    max_cold_start_wait: float | str = 300.0
    sleep_mode: bool = False
    control: PoolControl | None = None
    # What one replica costs the operator per hour running (dollars): the pool's bill, spread over the
    # requests it served and the idle rest (gateway/metering/pool_hours.py); a sleeping pool costs nothing.
    gpu_hour_usd: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a vllm pool needs at least one url")
        if self.launch is not None and self.launch.scheduling == "priority":
            self.priority_scheduling = True
        if self.launch is not None and self.sleep_mode:
            self.launch.sleep_mode = True  # the servers must start with --enable-sleep-mode
        duration_seconds(self.max_cold_start_wait)
        if self.idle_after is not None:
            duration_seconds(self.idle_after)
        elif self.min_replicas == 0:
            raise ValueError("min_replicas: 0 needs idle_after (how long without a request before the pool sleeps)")
        if self.sleep_mode and self.control is not None:
            raise ValueError("sleep_mode and control exclude each other: a sleeping server is not stopped")

    @property
    def scales_to_zero(self) -> bool:
        return self.min_replicas == 0

    @property
    def idle_seconds(self) -> float:
        return duration_seconds(self.idle_after) if self.idle_after is not None else float("inf")

    @property
    def cold_start_wait(self) -> float:
        return duration_seconds(self.max_cold_start_wait)


class EngineLoad(msgspec.Struct, frozen=True):
    """What a vLLM engine reports about itself on ``/metrics``; prefix-cache counts are in tokens."""

    running: float = 0.0
    waiting: float = 0.0
    kv_cache_usage: float = 0.0
    prefix_cache_queries: float = 0.0
    prefix_cache_hits: float = 0.0
    requests_finished: float = 0.0  # a counter: requests the engine has finished since it started


_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:prefix_cache_queries": "prefix_cache_queries",
    "vllm:prefix_cache_hits": "prefix_cache_hits",
    "vllm:request_success": "requests_finished",
}


def parse_engine_load(text: str) -> EngineLoad:
    """Sum each metric over its samples (one per engine and model), counters by their ``_total``."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        field = _GAUGES.get(family.name)
        if field is None:
            continue
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        values[field] = sum(s.value for s in samples)
    return EngineLoad(**values)


class VLLMReplica(OpenAICompatibleBackend):
    """One server of a pool; ``name`` is the pool's (the deployment the client is told about)."""

    def __init__(self, name: str, url: str, config: VLLMConfig, ctx: BackendContext) -> None:
        super().__init__(
            name, ctx, api_key=config.api_key, headers=config.headers, timeouts=config.timeouts, base_url=url
        )
        self.url = url.rstrip("/")
        self._root = self.url.removesuffix("/v1")
        self._sleep_timeout = 120.0  # moving a large model's weights back to the GPU takes a while

    def supports(self, op: Operation) -> bool:
        return op not in _NOT_SERVED

    async def ready(self) -> bool:
        return await self._probe(f"{self._root}/health")

    def serve_control(self, control: PoolControl) -> ServeControl:
        """A client of the pool's ``tollgate pool serve`` control endpoint, on this replica's HTTP client."""
        return ServeControl(self._http, control)

    async def sleep(self, level: int = 1) -> None:
        """vLLM's sleep mode (``--enable-sleep-mode``, ``VLLM_SERVER_DEV_MODE=1``): level 1 moves the
        weights to CPU memory and drops the KV cache, so the GPU is free while the process stays."""
        await self._control("POST", f"{self._root}/sleep", [("level", str(level))])

    async def wake_up(self) -> bool:
        """Weights first, then the KV cache (vLLM's order: the peak stays one of them); True once the
        engine says it is fully awake (otherwise every tag is woken at once)."""
        await self._control("POST", f"{self._root}/wake_up", [("tags", "weights")])
        answer = await self._control("POST", f"{self._root}/wake_up", [("tags", "kv_cache")])
        if answer.get("status") != "awake":
            answer = await self._control("POST", f"{self._root}/wake_up", [])
        return answer.get("status") == "awake"

    async def _control(self, method: str, url: str, query: list[tuple[str, str]]) -> dict[str, object]:
        """Raises HTTPFault (or TimeoutError) when the server cannot do it."""
        headers = {k: v for k, v in self._headers.items() if k != "content-type"}
        timeout = Timeout(total=self._sleep_timeout)
        target = f"{url}?{urlencode(query)}" if query else url
        async with await self._http.request(method, target, headers=headers, timeout=timeout) as response:
            response.raise_for_status()
            body = await response.read()
        answer = msgspec.json.decode(body) if body.strip() else None
        return answer if isinstance(answer, dict) else {}

    async def engine_load(self) -> EngineLoad | None:
        """The engine's load now, or None when ``/metrics`` cannot be read."""
        try:
            timeout = Timeout(total=2.0)
            async with await self._http.request(
                "GET", f"{self._root}/metrics", headers=self._headers, timeout=timeout
            ) as response:
                if response.status != 200:
                    return None
                text = await response.text()
        except (HTTPFault, TimeoutError):
            return None
        try:
            return parse_engine_load(text)
        except ValueError:
            return None


def replicas_of(name: str, config: VLLMConfig, ctx: BackendContext) -> list[VLLMReplica]:
    return [VLLMReplica(name, url, config, ctx) for url in config.urls]


class ServeControl:
    """The gateway's side of ``tollgate pool serve``'s control endpoint: stop and start the pool's
    replicas (``POST {url}/pool/stop``, ``POST {url}/pool/start``), with the shared bearer token."""

    def __init__(self, http: HTTPClient, control: PoolControl) -> None:
        self._http = http
        self._url = control.url.rstrip("/")
        self._headers = {"authorization": f"Bearer {control.token}"}

    async def stop(self) -> None:
        await self._post("stop")

    async def start(self) -> None:
        await self._post("start")

    async def _post(self, action: str) -> None:
        timeout = Timeout(total=60.0)  # stopping waits for the replicas to exit
        url = f"{self._url}/pool/{action}"
        async with await self._http.request("POST", url, headers=self._headers, timeout=timeout) as response:
            response.raise_for_status()
            await response.read()  # to its end, so that the connection is kept
