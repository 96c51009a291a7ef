"""A pool of vLLM OpenAI-compatible servers, balanced by least outstanding requests.

vLLM speaks the OpenAI API, so this reuses :mod:`backends.openai_compatible` and overrides only
replica choice, the readiness probe (vLLM's ``/health``) and what it serves: text, embeddings, and
``/v1/audio/transcriptions`` and ``/v1/audio/translations`` for Whisper-class models; no images and
no speech.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import msgspec

from backends.base import BackendContext, Operation
from backends.openai_compatible import OpenAICompatibleBackend, Timeouts
from backends.vllm_launch import VLLMLaunch

_NOT_SERVED = frozenset({Operation.IMAGES, Operation.IMAGE_EDITS, Operation.SPEECH})


class VLLMConfig(msgspec.Struct, tag="vllm", forbid_unknown_fields=True):
    urls: list[str]
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None
    # How to start this pool's servers (``tollgate pool serve``, the Helm chart); one per url.
    launch: VLLMLaunch | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a vllm pool needs at least one url")


def least_outstanding(outstanding: list[int], start: int) -> int:
    """Index of the replica with the fewest requests in flight; ties go round-robin from ``start``."""
    count = len(outstanding)
    best = start % count
    for step in range(1, count):
        index = (start + step) % count
        if outstanding[index] < outstanding[best]:
            best = index
    return best


class VLLMBackend(OpenAICompatibleBackend):
    def __init__(self, name: str, config: VLLMConfig, ctx: BackendContext) -> None:
        super().__init__(name, ctx, api_key=config.api_key, headers=config.headers, timeouts=config.timeouts)
        self.replicas = [url.rstrip("/") for url in config.urls]
        self.outstanding = [0] * len(self.replicas)
        self._turn = 0

    @classmethod
    def from_config(cls, name: str, config: VLLMConfig, ctx: BackendContext) -> VLLMBackend:  # type: ignore[override]
        return cls(name, config, ctx)

    def supports(self, op: Operation) -> bool:
        return op not in _NOT_SERVED

    @contextlib.contextmanager
    def _replica(self) -> Iterator[str]:
        index = least_outstanding(self.outstanding, self._turn)
        self._turn += 1
        self.outstanding[index] += 1
        try:
            yield self.replicas[index]
        finally:
            self.outstanding[index] -= 1

    async def ready(self) -> bool:
        for url in self.replicas:
            root = url.removesuffix("/v1")
            if await self._probe(f"{root}/health"):
                return True
        return False
