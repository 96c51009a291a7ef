"""Public model names, what each serves, and the deployment that answers it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgspec

from backends.base import Backend, Operation
from backends.simulator import OWNER as SIMULATOR_OWNER
from backends.simulator import SimulatorBackend
from gateway.core.errors import ModelNotFound, UnsupportedOperation
from gateway.protocol.models import ModelCard
from gateway.settings import ModelKind, Settings

OPERATIONS: dict[ModelKind, frozenset[Operation]] = {
    "chat": frozenset({Operation.CHAT, Operation.COMPLETIONS, Operation.RESPONSES}),
    "completion": frozenset({Operation.COMPLETIONS}),
    "embeddings": frozenset({Operation.EMBEDDINGS}),
    "image": frozenset({Operation.IMAGES, Operation.IMAGE_EDITS, Operation.IMAGE_VARIATIONS}),
    "transcription": frozenset({Operation.TRANSCRIPTIONS, Operation.TRANSLATIONS}),
    "speech": frozenset({Operation.SPEECH}),
}


def model_not_found(name: str) -> ModelNotFound:
    return ModelNotFound.named(name)


class Route(msgspec.Struct, frozen=True):
    """Where one request for a public model goes."""

    public_model: str
    deployment: str
    upstream_model: str
    backend: Backend


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: ModelKind
    routes: tuple[Route, ...]
    card: ModelCard


class Catalog:
    def __init__(self, settings: Settings, backends: dict[str, Backend]) -> None:
        created = int(time.time())
        self._entries: dict[str, _Entry] = {}
        for model in settings.models:
            routes = tuple(Route(model.name, d.backend, d.model, backends[d.backend]) for d in model.deployments)
            simulated = all(isinstance(r.backend, SimulatorBackend) for r in routes)
            card = ModelCard(
                id=model.name,
                created=created,
                owned_by=SIMULATOR_OWNER if simulated else "tollgate",
                kind=model.kind,
                description=model.description,
            )
            self._entries[model.name] = _Entry(model.kind, routes, card)

    def resolve(self, name: str, op: Operation) -> Route:
        entry = self._entries.get(name)
        if entry is None:
            raise model_not_found(name)
        if op not in OPERATIONS[entry.kind]:
            raise UnsupportedOperation(
                f"The model '{name}' is a {entry.kind} model and does not serve /v1/{op.value}.", param="model"
            )
        route = entry.routes[0]
        if not route.backend.supports(op):
            raise UnsupportedOperation(
                f"The model '{name}' is served by a backend that does not offer /v1/{op.value}.", param="model"
            )
        return route

    def serves_natively(self, name: str, op: Operation) -> bool:
        """Whether every deployment of ``name`` serves ``op`` itself: a Responses request for such a
        model is passed through; for the others it is translated into a chat completion."""
        entry = self._entries.get(name)
        if entry is None or op not in OPERATIONS[entry.kind]:
            return False
        return all(route.backend.supports(op) for route in entry.routes)

    def cards(self) -> list[ModelCard]:
        return [entry.card for entry in self._entries.values()]

    def card(self, name: str) -> ModelCard:
        entry = self._entries.get(name)
        if entry is None:
            raise model_not_found(name)
        return entry.card
