"""``/v1/files``: the file object, its list and its deletion, as OpenAI's API answers them."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

# What the gateway keeps: batch inputs (uploaded) and batch outputs (written by the batch lane).
PURPOSES = ("batch", "batch_output")


class FileUpload(msgspec.Struct):
    """``POST /v1/files``'s text field beside its ``file`` (the OpenAPI schema's form; the files service
    reads the form itself): this gateway keeps files for batches only."""

    purpose: Literal["batch"]


class FileObject(msgspec.Struct):
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    object: str = "file"
    status: str = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileList(msgspec.Struct):
    data: list[FileObject]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
    object: str = "list"


class FileDeleted(msgspec.Struct):
    id: str
    deleted: bool = True
    object: str = "file"


class FileListQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /v1/files``: newest first by default, ``after`` an id for the next page."""

    purpose: str | None = None
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 10_000
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
