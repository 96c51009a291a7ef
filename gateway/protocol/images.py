"""``POST /v1/images/generations`` (JSON), ``POST /v1/images/edits`` and ``/v1/images/variations`` (multipart)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backends.base import Form
from gateway.protocol.decoding import invalid, validate_query

MAX_PROMPT_CHARACTERS = 32_000
MAX_SIDE = 4096
DEFAULT_SIZE = "1024x1024"
_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
IMAGE_FIELDS = ("image", "image[]")


class ImageRequest(msgspec.Struct):
    """The fields both endpoints share; the rest of the body goes to the backend untouched."""

    model: str
    prompt: str
    n: Annotated[int, Meta(ge=1)] | None = None
    size: str | None = None
    quality: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    stream: bool | None = None

    def check(self) -> None:
        if not self.prompt.strip():
            raise invalid("prompt", "'prompt' must not be empty.")
        if len(self.prompt) > MAX_PROMPT_CHARACTERS:
            raise invalid("prompt", f"'prompt' is longer than {MAX_PROMPT_CHARACTERS} characters.")
        if self.stream:
            raise invalid("stream", "Streaming image generation is not supported by this gateway.", "unsupported_value")
        if self.size not in (None, "auto"):
            _check_size(self.size)

    @property
    def count(self) -> int:
        return self.n or 1

    @property
    def wanted_size(self) -> str:
        return self.size or DEFAULT_SIZE


class VariationRequest(msgspec.Struct):
    """The fields of a variation form: an image and no prompt (``user`` and the rest go to the backend)."""

    model: str
    n: Annotated[int, Meta(ge=1)] | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None

    def check(self) -> None:
        if self.size is not None:
            _check_size(self.size)

    @property
    def count(self) -> int:
        return self.n or 1

    @property
    def wanted_size(self) -> str:
        return self.size or DEFAULT_SIZE

    @property
    def quality(self) -> None:
        """Variations have one quality, the standard one."""
        return None


def _check_size(size: str) -> None:
    match = _SIZE.fullmatch(size)
    if match is None:
        raise invalid("size", f"Invalid value for 'size': '{size}'; expected 'auto' or WIDTHxHEIGHT, like '1024x1024'.")
    if max(int(match.group(1)), int(match.group(2))) > MAX_SIDE:
        raise invalid("size", f"Invalid value for 'size': '{size}'; neither side may exceed {MAX_SIDE} pixels.")


def edit_request(form: Form) -> ImageRequest:
    """The shared fields of an edit form (repeated fields and files are read apart)."""
    fields = {name: value for name, value in form.fields if not name.endswith("[]")}
    return validate_query(fields, ImageRequest)


def image_files(form: Form) -> list[int]:
    """Indexes into ``form.files`` of the images to edit (``image``, or ``image[]`` repeated)."""
    return [i for i, upload in enumerate(form.files) if upload.field in IMAGE_FIELDS]


def variation_request(form: Form) -> VariationRequest:
    """The fields of a variation form; its one file is ``image``."""
    return validate_query(dict(form.fields), VariationRequest)
