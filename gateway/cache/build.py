"""Building the response cache from the settings, in the app's lifespan.

No model with a ``cache`` block: no cache at all. The semantic matcher (numpy, onnxruntime, the
MiniLM files of the ``cache`` extra and, unless every such model sets ``cross_encoder: false``, the
cross-encoder) is imported only when some model turns semantic caching on. The embedder is the one
the semantic models name (``cache.embedder``: all the same, checked at load); a model's
``cache.verifier`` judge and a served embeddings model are called through ``router``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import install_extra
from gateway.cache.service import ResponseCache
from gateway.cache.store import EntryStore, MemoryEntries, RedisEntries
from gateway.core.redis_pipe import RedisPipe
from gateway.metering.meter import Meter
from gateway.metrics import Metrics
from gateway.routing.router import Router
from gateway.settings import CacheEmbedder, ConfigError, Settings

if TYPE_CHECKING:
    from gateway.cache.matcher import TextEmbedder
    from gateway.cache.sync import SemanticSync


def build_cache(
    settings: Settings,
    redis: Any | None,
    pipe: RedisPipe | None,
    metrics: Metrics,
    router: Router | None = None,
    meter: Meter | None = None,
) -> ResponseCache | None:
    """``pipe`` carries the entries' reads and writes; ``redis`` (redis-py) the semantic index's sync;
    ``meter`` journals the judges' calls as the operator's (gateway/cache/verifier.py)."""
    models = {model.name: model.cache for model in settings.models if model.cache is not None}
    if not models:
        return None
    entries: EntryStore = MemoryEntries(settings.cache.max_entries)
    if pipe is not None:
        entries = RedisEntries(pipe, settings.redis_namespace)
    semantic_models = [name for name, config in models.items() if config.semantic]
    reading = [name for name in semantic_models if models[name].cross_encoder]
    semantic = _semantic(settings, redis, router, semantic_models, reading) if semantic_models else None
    verifier = None
    if any(config.verifier is not None for config in models.values()):
        from gateway.cache.through_router import chat_via
        from gateway.cache.verifier import Verifier

        verifier = Verifier(chat_via(_needed(router, "verifier")), meter)
    return ResponseCache(
        models, entries, semantic, metrics, max_ttl_seconds=settings.cache.max_ttl_seconds, verifier=verifier
    )


def _needed(router: Router | None, what: str) -> Router:
    if router is None:
        raise ConfigError(f"a cache {what} calls a model through the gateway's router, and none was given")
    return router


def _semantic(
    settings: Settings, redis: Any | None, router: Router | None, models: list[str], reading: list[str]
) -> SemanticSync:
    """``reading``: the models whose candidates the cross-encoder reads (loaded only if there are any)."""
    needs = f"{settings.source}: models {models} turn on semantic caching, which needs the cache extra"
    try:
        from gateway.cache.cross_encoder import CrossEncoder
        from gateway.cache.embedder import EmbedderError, ServedEmbedder
        from gateway.cache.matcher import SemanticMatcher
        from gateway.cache.sync import SemanticSync
    except ImportError as exc:
        raise ConfigError(f"{needs} ({install_extra('cache')}): {exc}") from exc
    named = [m.cache.embedder for m in settings.models if m.name in models and m.cache and m.cache.embedder]
    try:
        embedder = build_embedder(named[0] if named else CacheEmbedder(builtin="minilm"), router)
        cross_encoder = CrossEncoder() if reading else None
    except EmbedderError as exc:
        raise ConfigError(f"{needs}: {exc}") from exc
    matcher = SemanticMatcher(embedder, cross_encoder=cross_encoder)
    on_loop = embedder.embed_many_async if isinstance(embedder, ServedEmbedder) else None
    return SemanticSync(matcher, redis, settings.redis_namespace, settings.cache.semantic_backfill, on_loop)


def build_embedder(config: CacheEmbedder, router: Router | None) -> TextEmbedder:
    """The embedder a ``cache.embedder`` block names (checked at load: exactly one kind)."""
    from gateway.cache.embedder import Embedder, ServedEmbedder

    if config.onnx is not None and config.tokenizer is not None:
        return Embedder(Path(config.onnx), Path(config.tokenizer))
    if config.model is not None and config.dimensions is not None:
        from gateway.cache.through_router import embeddings_via

        served = embeddings_via(_needed(router, "embedder"), config.model)
        return ServedEmbedder(served, config.dimensions, asyncio.get_running_loop())
    return Embedder()
