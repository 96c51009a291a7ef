"""A pool of vLLM OpenAI-compatible servers: its config, and one backend per replica.

vLLM speaks the OpenAI API, so a replica reuses :mod:`backends.openai_compatible` and adds only what
vLLM has beyond it: the ``/health`` probe, the engine's own load on ``/metrics``, and what it serves:
text, embeddings, and ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` for Whisper-class
models; no images and no speech. Which replica serves a request is the gateway's router's choice
(``gateway/routing``), made from the pool's ``strategy`` over the state of every replica.
"""

from __future__ import annotations

from typing import Annotated, Literal

import aiohttp
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from backends.base import BackendContext, Operation
from backends.openai_compatible import OpenAICompatibleBackend, Timeouts
from backends.vllm_launch import VLLMLaunch

_NOT_SERVED = frozenset({Operation.IMAGES, Operation.IMAGE_EDITS, Operation.IMAGE_VARIATIONS, Operation.SPEECH})

Strategy = Literal["least_outstanding", "round_robin", "latency", "affinity", "load_aware"]
Positive = Annotated[int, msgspec.Meta(ge=1)]


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

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a vllm pool needs at least one url")
        if self.launch is not None and self.launch.scheduling == "priority":
            self.priority_scheduling = True


class EngineLoad(msgspec.Struct, frozen=True):
    """What a vLLM engine reports about itself on ``/metrics``; prefix-cache counts are in tokens."""

    running: float = 0.0
    waiting: float = 0.0
    kv_cache_usage: float = 0.0
    prefix_cache_queries: float = 0.0
    prefix_cache_hits: float = 0.0


_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:prefix_cache_queries": "prefix_cache_queries",
    "vllm:prefix_cache_hits": "prefix_cache_hits",
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

    def supports(self, op: Operation) -> bool:
        return op not in _NOT_SERVED

    async def ready(self) -> bool:
        return await self._probe(f"{self._root}/health")

    async def engine_load(self) -> EngineLoad | None:
        """The engine's load now, or None when ``/metrics`` cannot be read."""
        try:
            async with self._http.get(
                f"{self._root}/metrics", headers=self._headers, timeout=aiohttp.ClientTimeout(total=2.0)
            ) as response:
                if response.status != 200:
                    return None
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        try:
            return parse_engine_load(text)
        except ValueError:
            return None


def replicas_of(name: str, config: VLLMConfig, ctx: BackendContext) -> list[VLLMReplica]:
    return [VLLMReplica(name, url, config, ctx) for url in config.urls]
