"""What stops and starts a sleeping pool (:class:`gateway.routing.wake.Control`), from its config:

- ``control`` set: ``tollgate pool serve`` stops and starts the replicas' processes (CPU or GPU: a
  full stop, and a full start with the weights loaded again);
- ``sleep_mode``: vLLM's own ``/sleep`` and ``/wake_up`` on every replica (GPU only: the weights
  wait in CPU memory, so a wake takes seconds, not the minutes of a start);
- neither: an outside autoscaler (KEDA, on ``tollgate_pool_pending_requests``) owns the replicas;
  the gateway only stops sending them requests, and waits for one to be ready when it wakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from backends.vllm import VLLMConfig, VLLMReplica
from gateway.routing.replicas import Replica
from gateway.routing.wake import Clock, Control, Wake


class SleepMode:
    def __init__(self, replicas: Sequence[VLLMReplica]) -> None:
        self._replicas = list(replicas)

    async def stop(self) -> None:
        await asyncio.gather(*(replica.sleep() for replica in self._replicas))

    async def start(self) -> None:
        await asyncio.gather(*(replica.wake_up() for replica in self._replicas))


class Outside:
    """The replicas come and go by someone else's hand (KEDA): nothing to ask."""

    async def stop(self) -> None:
        return None

    async def start(self) -> None:
        return None


def control_of(config: VLLMConfig, replicas: Sequence[Replica]) -> Control:
    backends = [r.backend for r in replicas if isinstance(r.backend, VLLMReplica)]
    if config.control is not None and backends:
        return backends[0].serve_control(config.control)
    if config.sleep_mode:
        return SleepMode(backends)
    return Outside()


def wake_of(name: str, config: VLLMConfig, replicas: Sequence[Replica], clock: Clock) -> Wake | None:
    """The pool's :class:`Wake` when it may scale to zero (``min_replicas: 0``), else None."""
    if not config.scales_to_zero:
        return None
    return Wake(
        name,
        replicas,
        control_of(config, replicas),
        clock,
        idle_after=config.idle_seconds,
        max_wait=config.cold_start_wait,
        queue_size=config.queue_size,
    )
