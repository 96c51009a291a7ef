"""The one typed settings object, read once at start-up from the YAML config and the environment.

Nothing else in Tollgate reads ``os.environ``: :func:`load_settings` receives the environment as a
mapping, so the CLI, the ASGI factory and the tests all go through the same path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from backends.registry import BackendConfig
from gateway.config.batches import BatchSettings
from gateway.config.routing import Rollout, RoutingSettings
from gateway.config.stripe import StripeSettings
from gateway.core.config_hints import choice_hint
from gateway.db.engine import with_async_driver

ModelKind = Literal["chat", "completion", "embeddings", "image", "transcription", "speech"]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_OVERRIDES = {
    "TOLLGATE_DATABASE_URL": "database_url",
    "TOLLGATE_REDIS_URL": "redis_url",
    "TOLLGATE_ADMIN_TOKEN": "admin_token",
    "TOLLGATE_METRICS_TOKEN": "metrics_token",
    # Set by ``tollgate serve --workers N`` (or by hand for another server) before any worker starts.
    "PROMETHEUS_MULTIPROC_DIR": "metrics_multiprocess_dir",
}


class ConfigError(Exception):
    """A config that cannot be served; the message names the file, the key path and the problem."""


class Deployment(msgspec.Struct, forbid_unknown_fields=True):
    backend: str
    model: str


class Pricing(msgspec.Struct, forbid_unknown_fields=True):
    """A model's prices: the config's ``pricing`` block, published as a new price-book version when
    changed, and (with the model's name) each entry of a price book published through the admin API.
    Dollars; token prices per million tokens."""

    input_per_mtok: Decimal = Decimal(0)
    output_per_mtok: Decimal = Decimal(0)
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    per_image: dict[str, Decimal] | None = None
    per_audio_second: Decimal | None = None
    per_mchar: Decimal | None = None
    gpu_hour_usd: Decimal | None = None
    tokens_per_gpu_hour: Annotated[int, msgspec.Meta(ge=1)] | None = None


class TracingSettings(msgspec.Struct, forbid_unknown_fields=True):
    """OpenTelemetry spans, one per request, exported over OTLP/HTTP (needs the ``otel`` extra)."""

    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "tollgate"


class MediaLimits(msgspec.Struct, forbid_unknown_fields=True):
    """What an image or audio model accepts (``docs/media.md``); OpenAI's own limits by default."""

    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1)] = 25 * 1024 * 1024
    max_audio_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_speech_characters: Annotated[int, msgspec.Meta(ge=1)] = 4096
    max_images: Annotated[int, msgspec.Meta(ge=1)] = 10


class CacheVerifier(msgspec.Struct, forbid_unknown_fields=True):
    """A ``cache.verifier`` block: a chat model this gateway routes to, asked whether a semantic
    candidate's cached answer answers the new question; served only on its "yes" (docs/cache.md)."""

    model: str
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2


class CacheEmbedder(msgspec.Struct, forbid_unknown_fields=True):
    """A ``cache.embedder`` block, exactly one kind: ``builtin: minilm``, ``onnx`` (+ ``tokenizer``),
    or ``model``, an embeddings model this gateway serves (+ its vectors' ``dimensions``)."""

    builtin: Literal["minilm"] | None = None
    onnx: str | None = None
    tokenizer: str | None = None
    model: str | None = None
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=16384)] | None = None


class ModelCache(msgspec.Struct, forbid_unknown_fields=True):
    """A model's ``cache`` block: which caches answer it and for how long (docs/cache.md)."""

    exact: bool = True
    semantic: bool = False
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] = 3600
    # Cosine similarity a paraphrase needs to be answered from the semantic cache; unset: the matcher's default.
    similarity_threshold: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    # Read each candidate together with the question (the cross-encoder of the cache extra) before serving it.
    cross_encoder: bool = True
    # Probability the cross-encoder needs to serve a candidate; unset: the matcher's default.
    cross_encoder_accept: Annotated[float, msgspec.Meta(gt=0, lt=1)] | None = None
    # Also cache requests that are not deterministic (temperature above 0 and no seed).
    nondeterministic: bool = False
    # One cache for every customer: only for models whose answers are public to all of them.
    shared_across_customers: bool = False
    # A judge served by this gateway, asked about each semantic candidate left; its cost is the operator's.
    verifier: CacheVerifier | None = None
    # What embeds the questions; unset: the built-in MiniLM. One embedder for every semantic model.
    embedder: CacheEmbedder | None = None


class Batching(msgspec.Struct, forbid_unknown_fields=True):
    """An embeddings model's ``batching`` block: its requests to one deployment that arrive within
    ``max_wait_ms`` of the first go upstream as one call of at most ``max_batch`` inputs
    (gateway/routing/batching.py). Off unless set."""

    max_wait_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 10
    max_batch: Annotated[int, msgspec.Meta(ge=2, le=2048)] = 64


class ModelSettings(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    deployments: list[Deployment]
    kind: ModelKind = "chat"
    description: str | None = None
    pricing: Pricing | None = None
    # What serving it costs the operator at the provider's list prices (same fields as ``pricing``);
    # a self-hosted pool's cost is its GPU-hours instead (the backend's ``gpu_hour_usd``, docs/pricing.md).
    cost: Pricing | None = None
    limits: MediaLimits = msgspec.field(default_factory=MediaLimits)
    cache: ModelCache | None = None
    batching: Batching | None = None  # embeddings models only
    rollout: Rollout | None = None  # a canary taking a share of the traffic (gateway/routing/rollout.py)
    # Seconds to the first token on every deployment of this model, in place of each backend's
    # ``timeouts.first_token`` (120 by default): for a model whose answers are slow to start.
    first_token_timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None


class CacheSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Where cached answers live: this process (an LRU of ``max_entries``) or Redis when ``redis_url`` is set."""

    max_entries: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    # The longest a request's ``x-tollgate-cache-ttl`` may keep an answer.
    max_ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] = 7 * 86400
    # Semantic entries a starting replica reads back from Redis into its index.
    semantic_backfill: Annotated[int, msgspec.Meta(ge=0)] = 1000


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    backends: dict[str, BackendConfig]
    models: list[ModelSettings]
    database_url: str = "sqlite+aiosqlite:///.tollgate/tollgate.db"
    redis_url: str | None = None
    # Prefix of every Redis key and channel, so that deployments can share one Redis.
    redis_namespace: str = "tollgate"
    admin_token: str | None = None
    # Set: ``/metrics`` answers only ``Authorization: Bearer <metrics_token>`` (401 otherwise).
    metrics_token: str | None = None
    max_request_bytes: int = 16 * 1024 * 1024
    # The largest multipart upload (audio, images to edit) read at all; each model may accept less.
    max_upload_bytes: int = 25 * 1024 * 1024
    # Requests without a key are served as this customer (the demo uses it): no Authorization header,
    # or a bearer not shaped like a Tollgate key (``tg-...``); a key-shaped one must be valid. Unset,
    # such requests get 401.
    anonymous_customer: str | None = None
    # Where the usage journal lives; unset: .tollgate/journal/<database>/, one directory per database
    # (gateway/metering/journal_owner.py). A drain stores only segments written for its own database.
    journal_dir: str | None = None
    # false serves requests without recording any usage: nothing is billed. It exists to measure the
    # gateway's core path against the metered one (``make bench``); never turn it off in production.
    meter_usage: bool = True
    # How often each replica looks for keys changed elsewhere (revocations reach it by Redis sooner).
    key_poll_seconds: float = 1.0
    price_poll_seconds: float = 5.0
    # When the admission store (Redis) cannot be reached: true admits requests without checking their
    # limits (the gateway stays up; a metric and a log line say so), false refuses limited requests with 503.
    admission_fail_open: bool = True
    # Tokens reserved for the answer of a request that sets no max_tokens, until it settles.
    reserve_output_tokens: int = 1024
    # How often each replica applies credit top-ups written by another process.
    credit_poll_seconds: float = 1.0
    # One JSON line per request on standard output (no keys, no prompt or answer text).
    access_log: bool = True
    tracing: TracingSettings | None = None
    # Where prometheus-client keeps each worker's values when several workers share the port; from
    # PROMETHEUS_MULTIPROC_DIR only, because prometheus-client reads that variable itself.
    metrics_multiprocess_dir: str | None = None
    # Billing through Stripe (meters, Checkout top-ups, webhooks); off when absent.
    stripe: StripeSettings | None = None
    cache: CacheSettings = msgspec.field(default_factory=CacheSettings)
    # Hardening limits (docs/hardening.md). A request's line and headers, in bytes (431 past it):
    max_header_bytes: int = 32 * 1024
    # Seconds from a connection's opening (or a request's first byte) until the whole request, body
    # included, has arrived; a slower client gets 408 and is disconnected.
    request_read_timeout_seconds: float = 30.0
    # Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout_seconds: int = 5
    # On SIGTERM: seconds requests in flight get to finish, then the rest are cancelled (metered,
    # reservations settled, a 503 to those not yet answered) and the server exits.
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Messages in one chat request (400 naming this setting past it).
    max_messages: int = 1024
    # Billable requests are refused with 503 while the journal's disk has less than this free.
    journal_min_free_bytes: int = 1024 * 1024
    # When journaled usage is put on the disk (fsync), to survive a crash of the machine, not only of the
    # process: after every record, at most once per journal_fsync_interval_seconds, or never (the kernel
    # writes it back within about 30 s). The cost of each: docs/bench-journal-fsync.md.
    journal_fsync: Literal["always", "interval", "never"] = "interval"
    journal_fsync_interval_seconds: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    # Retries, circuit breakers, health checks and regions (gateway/config/routing.py).
    routing: RoutingSettings = msgspec.field(default_factory=RoutingSettings)
    # The /v1/batches lane: its concurrency, its share of the pools, its leases (gateway/config/batches.py).
    batches: BatchSettings = msgspec.field(default_factory=BatchSettings)
    source: str = "<demo>"


def load_settings(path: str | Path | None, env: Mapping[str, str]) -> Settings:
    """Read the config at ``path`` (or ``TOLLGATE_CONFIG``; the demo config when neither is set)."""
    chosen = path or env.get("TOLLGATE_CONFIG")
    if chosen:
        source = str(chosen)
        raw = _read_yaml(Path(source))
    else:
        from gateway.demo import demo_config

        source, raw = "<demo>", demo_config(env)
    raw = _interpolate(raw, env, source, "$")
    for variable, key in _ENV_OVERRIDES.items():
        if env.get(variable):
            raw[key] = env[variable]
    raw["source"] = source
    if isinstance(raw.get("database_url"), str):
        raw["database_url"] = with_async_driver(raw["database_url"])
    _check_backend_entries(raw.get("backends"), source)
    try:
        settings = msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc
    _check_references(settings)
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: $: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _interpolate(value: Any, env: Mapping[str, str], source: str, where: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{source}: {where}: environment variable {name} is not set")

        return _ENV_REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, source, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, source, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _check_backend_entries(backends: Any, source: str) -> None:
    """Validate each backend on its own: msgspec names a mapping's entries ``[...]``, not by key."""
    if not isinstance(backends, dict):
        return
    for name, entry in backends.items():
        try:
            msgspec.convert(entry, BackendConfig)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{source}: {_describe(exc, f'$.backends.{name}')}") from exc


def _describe(exc: msgspec.ValidationError, root: str = "$") -> str:
    """msgspec says ``problem - at `$.path` ``; turn it into ``$.path: problem``."""
    message = str(exc)
    problem, sep, location = message.rpartition(" - at ")
    if not sep:
        return f"{root}: {message}"
    path = f"{root}{location.strip('`')[1:]}"
    return f"{path}: {problem}{choice_hint(Settings, path, problem)}"


def _check_references(settings: Settings) -> None:
    seen: set[str] = set()
    for i, model in enumerate(settings.models):
        where = f"{settings.source}: $.models[{i}]"
        if model.name in seen:
            raise ConfigError(f"{where}.name: model {model.name!r} is declared twice")
        seen.add(model.name)
        if not model.deployments:
            raise ConfigError(f"{where}.deployments: a model needs at least one deployment")
        for j, deployment in enumerate(model.deployments):
            if deployment.backend not in settings.backends:
                known = ", ".join(sorted(settings.backends)) or "none"
                raise ConfigError(
                    f"{where}.deployments[{j}].backend: unknown backend {deployment.backend!r} (declared: {known})"
                )
        if model.batching is not None and model.kind != "embeddings":
            raise ConfigError(f"{where}.batching: only an embeddings model batches its requests")
        if model.rollout is not None and model.rollout.backend not in settings.backends:
            raise ConfigError(f"{where}.rollout.backend: unknown backend {model.rollout.backend!r}")
    check_cache_blocks(settings)


def check_cache_blocks(settings: Settings) -> None:
    """A ``cache`` block's verifier names a chat model and its embedder exactly one usable kind; every
    semantic model shares one embedder (a replica keeps one vector index, of one dimension)."""
    kinds = {model.name: model.kind for model in settings.models}
    chosen: dict[str, CacheEmbedder] = {}
    for i, model in enumerate(settings.models):
        where = f"{settings.source}: $.models[{i}].cache"
        cache = model.cache
        if cache is None:
            continue
        if (cache.verifier or cache.embedder) and not cache.semantic:
            raise ConfigError(f"{where}: a verifier or an embedder needs semantic: true")
        if cache.verifier is not None and kinds.get(cache.verifier.model) != "chat":
            raise ConfigError(f"{where}.verifier.model: {cache.verifier.model!r} is not a chat model of this config")
        if cache.embedder is not None:
            _check_embedder(cache.embedder, f"{where}.embedder", kinds)
        if cache.semantic:
            chosen[model.name] = cache.embedder or CacheEmbedder(builtin="minilm")
    if len({msgspec.json.encode(e) for e in chosen.values()}) > 1:
        raise ConfigError(f"{settings.source}: models {sorted(chosen)} must name the same cache.embedder")


def _check_embedder(embedder: CacheEmbedder, where: str, kinds: dict[str, ModelKind]) -> None:
    named = [k for k in ("builtin", "onnx", "model") if getattr(embedder, k) is not None]
    if len(named) != 1:
        raise ConfigError(f"{where}: name exactly one of builtin, onnx or model (got {named or 'none'})")
    if embedder.onnx is not None:
        for key, path in (("onnx", embedder.onnx), ("tokenizer", embedder.tokenizer)):
            if path is None or not Path(path).is_file():
                raise ConfigError(f"{where}.{key}: no such file: {path!r} (an onnx embedder needs both files)")
    elif embedder.tokenizer is not None:
        raise ConfigError(f"{where}.tokenizer: only an onnx embedder takes a tokenizer")
    if embedder.model is not None:
        if kinds.get(embedder.model) != "embeddings":
            raise ConfigError(f"{where}.model: {embedder.model!r} is not an embeddings model of this config")
        if embedder.dimensions is None:
            raise ConfigError(f"{where}.dimensions: a served embeddings model needs its vectors' length")
    elif embedder.dimensions is not None:
        raise ConfigError(f"{where}.dimensions: only a served model takes dimensions (a file's are read from it)")
