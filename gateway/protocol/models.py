"""``GET /v1/models`` and ``GET /v1/models/{id}``."""

from __future__ import annotations

import msgspec


class ModelCard(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"
    kind: str | None = None
    description: str | None = None


class ModelList(msgspec.Struct):
    data: list[ModelCard]
    object: str = "list"
