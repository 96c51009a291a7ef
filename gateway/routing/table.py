"""The routing table: every deployment's pool and every public model's chain, built from the config.

A config reload builds a new table and swaps it in whole; requests already routed keep the table
(and the replica objects) they started with. Replicas whose deployment config did not change carry
their state (in-flight count, latency, breaker, health) into the new table, and so do rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from backends.base import Backend, BackendContext, Operation, TokenCounter
from backends.registry import BackendConfig, build_replicas
from backends.vllm import VLLMConfig, VLLMReplica
from gateway.config.routing import Rollout
from gateway.core.errors import UnsupportedOperation
from gateway.routing.batching import Batcher
from gateway.routing.catalog import Catalog
from gateway.routing.pool import Clock, Pool
from gateway.routing.regions import by_region
from gateway.routing.replicas import Replica
from gateway.routing.rollout import Canary
from gateway.routing.shared import SharedRouting
from gateway.settings import ModelSettings, Settings


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment of a model: the pool that serves it and the model name it is asked for."""

    pool: Pool
    upstream_model: str
    canary: bool = False
    first_token: float | None = None  # seconds: the model's first_token_timeout, else the pool's
    batcher: Batcher | None = None  # the model's embeddings batches on this deployment, if it batches

    @classmethod
    def of(
        cls, pool: Pool, upstream_model: str, model: ModelSettings, *, canary: bool = False, tokens: TokenCounter
    ) -> Target:
        first_token = model.first_token_timeout if model.first_token_timeout is not None else pool.first_token
        batcher = None if model.batching is None else Batcher(model.batching, tokens)
        return cls(pool, upstream_model, canary, first_token, batcher)


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    chain: tuple[Target, ...]  # the configured fallback order
    canary: Canary | None = None
    canary_target: Target | None = None


class RoutingTable:
    def __init__(
        self,
        settings: Settings,
        ctx: BackendContext,
        clock: Clock,
        previous: RoutingTable | None,
        shared: SharedRouting | None = None,
    ) -> None:
        """``shared``: what the gateway replicas share through Redis (by default, ``previous``'s)."""
        self.settings = settings
        self.clock = clock
        self.shared: SharedRouting | None = shared if shared is not None or previous is None else previous.shared
        self.pools = {name: _pool(name, config, ctx, self, previous) for name, config in settings.backends.items()}
        self.catalog = Catalog(settings, {name: pool.replicas[0].backend for name, pool in self.pools.items()})
        self.models: dict[str, ModelRoute] = {}
        self._serving: dict[tuple[str, Operation], tuple[Target, ...]] = {}
        for model in settings.models:
            chain = tuple(
                Target.of(self.pools[d.backend], d.model, model, tokens=ctx.tokens) for d in model.deployments
            )
            rollout = model.rollout
            canary = canary_target = None
            if rollout is not None:
                canary = _carried_canary(model.name, rollout, previous)
                canary_target = Target.of(
                    self.pools[rollout.backend], rollout.model, model, canary=True, tokens=ctx.tokens
                )
            self.models[model.name] = ModelRoute(model.name, chain, canary, canary_target)

    def chain(self, model: str, op: Operation, region: str | None, draw: float) -> list[Target]:
        """The deployments to try for one request, in order: the canary first when it takes this
        request, then the chain sorted by region preference; those that cannot serve ``op`` left out."""
        serving = self._serving.get((model, op))
        if serving is None:  # once per model and operation: a table's deployments never change
            serving = self._serving[model, op] = self._serving_chain(model, op)
        targets = list(serving)
        preferred = region or self.settings.routing.default_region
        if preferred is not None and len(targets) > 1:
            order = by_region([t.pool.region for t in targets], preferred, self.settings.routing.regions)
            targets = [targets[i] for i in order]
        route = self.models[model]
        canary = route.canary_target
        if route.canary is not None and canary is not None and route.canary.takes(draw) and _serves(canary, op):
            targets.insert(0, canary)
        return targets

    def _serving_chain(self, model: str, op: Operation) -> tuple[Target, ...]:
        self.catalog.resolve(model, op)  # an unknown model, or one of another kind, is refused here
        serving = tuple(t for t in self.models[model].chain if _serves(t, op))
        if not serving:
            raise UnsupportedOperation(
                f"The model '{model}' is served by a backend that does not offer /v1/{op.value}.", param="model"
            )
        return serving

    def replicas(self) -> list[Replica]:
        return [replica for pool in self.pools.values() for replica in pool.replicas]

    async def aclose(self) -> None:
        """End the background work of its pools and deployments: wakes and sleeps in progress, open
        embeddings batches (the backends' connections are closed by their owner)."""
        for pool in self.pools.values():
            if pool.wake is not None:
                await pool.wake.aclose()
        for route in self.models.values():
            for target in (*route.chain, route.canary_target):
                if target is not None and target.batcher is not None:
                    await target.batcher.aclose()


def _pool(
    name: str, config: BackendConfig, ctx: BackendContext, table: RoutingTable, previous: RoutingTable | None
) -> Pool:
    """A new pool; a replica whose URL (and the rest of whose config) did not change keeps its state."""
    old = previous.pools.get(name) if previous is not None else None
    kept = {r.key: r for r in old.replicas} if old is not None and _same_but_urls(old.config, config) else {}
    replicas = []
    for backend in build_replicas(name, config, ctx):
        fresh = _replica(backend, name, table.settings)
        replicas.append(kept.get(fresh.key, fresh))
    return Pool(name, config, replicas, table.clock, table.shared)


def _same_but_urls(old: BackendConfig, new: BackendConfig) -> bool:
    if isinstance(old, VLLMConfig) and isinstance(new, VLLMConfig):
        return msgspec.structs.replace(old, urls=new.urls) == new
    return old == new


def _replica(backend: Backend, name: str, settings: Settings) -> Replica:
    key = backend.url if isinstance(backend, VLLMReplica) else name
    return Replica(key, backend, settings.routing.breaker)


def _carried_canary(model: str, rollout: Rollout, previous: RoutingTable | None) -> Canary:
    old = previous.models.get(model) if previous is not None else None
    if old is not None and old.canary is not None and old.canary.rollout == rollout:
        return old.canary
    return Canary(model, rollout)


def _serves(target: Target, op: Operation) -> bool:
    return target.pool.replicas[0].backend.supports(op)
