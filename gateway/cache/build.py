"""Building the response cache from the settings, in the app's lifespan.

No model with a ``cache`` block: no cache at all. The semantic matcher (numpy, onnxruntime, the
MiniLM files of the ``cache`` extra and, unless every such model sets ``cross_encoder: false``, the
cross-encoder) is imported only when some model turns semantic caching on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway import install_extra
from gateway.cache.service import ResponseCache
from gateway.cache.store import EntryStore, MemoryEntries, RedisEntries
from gateway.core.redis_pipe import RedisPipe
from gateway.metrics import Metrics
from gateway.settings import ConfigError, Settings

if TYPE_CHECKING:
    from gateway.cache.sync import SemanticSync


def build_cache(
    settings: Settings, redis: Any | None, pipe: RedisPipe | None, metrics: Metrics
) -> ResponseCache | None:
    """``pipe`` carries the entries' reads and writes; ``redis`` (redis-py) the semantic index's sync."""
    models = {model.name: model.cache for model in settings.models if model.cache is not None}
    if not models:
        return None
    entries: EntryStore = MemoryEntries(settings.cache.max_entries)
    if pipe is not None:
        entries = RedisEntries(pipe, settings.redis_namespace)
    semantic_models = [name for name, config in models.items() if config.semantic]
    reading = [name for name in semantic_models if models[name].cross_encoder]
    semantic = _semantic(settings, redis, semantic_models, reading) if semantic_models else None
    return ResponseCache(models, entries, semantic, metrics, max_ttl_seconds=settings.cache.max_ttl_seconds)


def _semantic(settings: Settings, redis: Any | None, models: list[str], reading: list[str]) -> SemanticSync:
    """``reading``: the models whose candidates the cross-encoder reads (loaded only if there are any)."""
    needs = f"{settings.source}: models {models} turn on semantic caching, which needs the cache extra"
    try:
        from gateway.cache.cross_encoder import CrossEncoder
        from gateway.cache.embedder import Embedder, EmbedderError
        from gateway.cache.matcher import SemanticMatcher
        from gateway.cache.sync import SemanticSync
    except ImportError as exc:
        raise ConfigError(f"{needs} ({install_extra('cache')}): {exc}") from exc
    try:
        embedder = Embedder()
        cross_encoder = CrossEncoder() if reading else None
    except EmbedderError as exc:
        raise ConfigError(f"{needs}: {exc}") from exc
    matcher = SemanticMatcher(embedder, cross_encoder=cross_encoder)
    return SemanticSync(matcher, redis, settings.redis_namespace, settings.cache.semantic_backfill)
