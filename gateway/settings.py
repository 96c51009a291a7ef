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
from gateway.routing.config import Rollout, RoutingSettings

ModelKind = Literal["chat", "completion", "embeddings", "image", "transcription", "speech"]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_OVERRIDES = {
    "TOLLGATE_DATABASE_URL": "database_url",
    "TOLLGATE_REDIS_URL": "redis_url",
    "TOLLGATE_ADMIN_TOKEN": "admin_token",
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


class ModelSettings(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    deployments: list[Deployment]
    kind: ModelKind = "chat"
    description: str | None = None
    pricing: Pricing | None = None
    rollout: Rollout | None = None  # a canary taking a share of the traffic (gateway/routing/rollout.py)


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    backends: dict[str, BackendConfig]
    models: list[ModelSettings]
    database_url: str = "sqlite+aiosqlite:///.tollgate/tollgate.db"
    redis_url: str | None = None
    # Prefix of every Redis key and channel, so that deployments can share one Redis.
    redis_namespace: str = "tollgate"
    admin_token: str | None = None
    max_request_bytes: int = 16 * 1024 * 1024
    # Requests without an Authorization header are served as this customer (the demo uses it);
    # unset, such requests get 401.
    anonymous_customer: str | None = None
    journal_dir: str = ".tollgate/journal"
    # false serves requests without recording any usage: nothing is billed. It exists to measure the
    # gateway's core path against the metered one (``tollgate bench``); never turn it off in production.
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
    # Retries, circuit breakers, health checks and regions (gateway/routing/config.py).
    routing: RoutingSettings = msgspec.field(default_factory=RoutingSettings)
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
    return f"{root}{location.strip('`')[1:]}: {problem}"


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
        if model.rollout is not None and model.rollout.backend not in settings.backends:
            raise ConfigError(f"{where}.rollout.backend: unknown backend {model.rollout.backend!r}")
