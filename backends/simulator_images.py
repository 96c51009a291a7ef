"""The simulator's images: a picture of the requested size, drawn from the prompt with Pillow.

Colours and shapes are a function of the prompt and the image's index, so the same request draws
the same picture. An edit draws over the uploaded image, resized to the requested size (``auto``
keeps the upload's size); a variation draws over it too, in colours drawn from its bytes. With
``response_format: url`` the image comes back as a ``data:`` URL: the simulator has no storage to
serve files from, and every client that follows URLs can read one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from typing import Any

from PIL import Image, ImageDraw

from backends.base import JSON, Form, Operation, Upload
from gateway.core.errors import InvalidRequest

DEFAULT_SIZE = (1024, 1024)
_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}


def generate(body: JSON) -> JSON:
    size = _size(body.get("size"), DEFAULT_SIZE)
    pictures = [_draw(Image.new("RGB", size, _colour(body, i, 0)), body, i) for i in range(int(body.get("n") or 1))]
    return _answer(body, pictures, size)


def from_upload(op: Operation, form: Form) -> JSON:
    """An edit (``images/edits``) or a variation (``images/variations``) of the uploaded image."""
    return vary(form) if op is Operation.IMAGE_VARIATIONS else edit(form)


def edit(form: Form) -> JSON:
    fields: dict[str, Any] = dict(form.fields)
    _, base, size = _upload(form, fields)
    pictures = [_draw(base.copy(), fields, i) for i in range(int(fields.get("n") or 1))]
    return _answer(fields, pictures, size)


def vary(form: Form) -> JSON:
    """Variations have no prompt: the shapes' colours come from the uploaded bytes, so the same
    upload varies the same way, and another upload differently."""
    fields: dict[str, Any] = dict(form.fields)
    source, base, size = _upload(form, fields)
    seed = {"prompt": hashlib.sha256(source.data).hexdigest()}
    pictures = [_draw(base.copy(), seed, i) for i in range(int(fields.get("n") or 1))]
    return _answer(fields, pictures, size)


def _upload(form: Form, fields: dict[str, Any]) -> tuple[Upload, Image.Image, tuple[int, int]]:
    """The uploaded image, opened and resized to the requested size (``auto``: the upload's own)."""
    source = next((f for f in form.files if f.field in ("image", "image[]")), None)
    if source is None:
        raise InvalidRequest("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    with Image.open(io.BytesIO(source.data)) as opened:
        base = opened.convert("RGB")
    size = base.size if fields.get("size") == "auto" else _size(fields.get("size"), DEFAULT_SIZE)
    return source, base.resize(size), size


def _size(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    if value in (None, "auto"):
        return default
    width, _, height = str(value).partition("x")
    return int(width), int(height)


def _colour(body: Any, index: int, shape: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{body.get('prompt')}|{index}|{shape}".encode()).digest()
    return digest[0], digest[1], digest[2]


def _draw(picture: Image.Image, body: Any, index: int) -> Image.Image:
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    for shape in range(1, 5):
        left, top = width * shape // 10, height * shape // 10
        box = (left, top, left + width // 3, top + height // 3)
        draw.ellipse(box, fill=_colour(body, index, shape))
    return picture


def _answer(body: Any, pictures: list[Image.Image], size: tuple[int, int]) -> JSON:
    output = body.get("output_format") or "png"
    if output not in _FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'output_format': '{output}'; the simulator draws png, jpeg or webp.",
            param="output_format",
        )
    as_url = body.get("response_format") == "url"
    data = []
    for picture in pictures:
        encoded = base64.b64encode(_encode(picture, output)).decode()
        item = {"url": f"data:{_FORMATS[output][1]};base64,{encoded}"} if as_url else {"b64_json": encoded}
        if body.get("prompt") is not None:  # a variation has none to revise
            item["revised_prompt"] = body["prompt"]
        data.append(item)
    quality = body.get("quality")
    return {
        "created": int(time.time()),
        "data": data,
        "size": f"{size[0]}x{size[1]}",
        "quality": "standard" if quality in (None, "auto") else quality,
        "output_format": output,
        "background": "opaque",
    }


def _encode(picture: Image.Image, output: str) -> bytes:
    buffer = io.BytesIO()
    options = {"compress_level": 1} if output == "png" else {}  # fast: the picture is not the point
    picture.save(buffer, format=_FORMATS[output][0], **options)
    return buffer.getvalue()
