"""Everything the app holds for its lifetime, built once in the lifespan and injected."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from backends.base import Backend, BackendContext
from backends.http import build_client
from backends.registry import build_backend
from gateway.services.catalog import Catalog
from gateway.settings import Settings
from gateway.tokens import Tokenizer


@dataclass(slots=True)
class AppState:
    settings: Settings
    http: httpx.AsyncClient
    tokens: Tokenizer
    backends: dict[str, Backend]
    catalog: Catalog


def build_state(settings: Settings, tokens: Tokenizer | None = None) -> AppState:
    http = build_client(transport=settings.upstream_transport)
    tokens = tokens or Tokenizer()
    ctx = BackendContext(http=http, tokens=tokens)
    backends = {name: build_backend(name, config, ctx) for name, config in settings.backends.items()}
    return AppState(settings, http, tokens, backends, Catalog(settings, backends))


async def close_state(state: AppState) -> None:
    for backend in state.backends.values():
        await backend.aclose()
    await state.http.aclose()
