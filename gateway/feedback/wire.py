"""The wire shape of ``POST /v1/feedback``."""

from __future__ import annotations

from typing import Annotated

import msgspec


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    """``response_id``: of an answer this customer got, its ``x-request-id`` or the ``id`` in its body."""

    response_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    score: Annotated[float, msgspec.Meta(ge=0, le=1)]
    label: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class FeedbackOut(msgspec.Struct, kw_only=True):
    id: int
    response_id: str
    model: str
    score: float
    label: str | None
    comment: str | None
    created_at: int  # Unix seconds
    object: str = "feedback"
