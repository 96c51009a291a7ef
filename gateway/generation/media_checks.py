"""Checks of what a media request uploads and asks for, against the model's limits and price table.

Every refusal here names the problem; the media service meters it as an error at no cost.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from decimal import Decimal

from PIL import Image, UnidentifiedImageError

from backends.audio_probe import AudioInfo, probe_audio
from backends.base import Form, Upload
from gateway.core.errors import InvalidRequest, PayloadTooLarge
from gateway.metering.media_units import DEFAULT_QUALITY, MediaUsage, image_price, priced_images
from gateway.protocol.decoding import invalid
from gateway.protocol.images import ImageRequest, VariationRequest
from gateway.settings import MediaLimits

# What OpenAI's image edit endpoint takes; the mask must be a PNG (its alpha marks what to change).
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
# Large enough for any image a model takes; smaller than what makes Pillow refuse as a decompression bomb.
MAX_IMAGE_PIXELS = 64_000_000


def check_upload_size(form: Form, limits: MediaLimits, model: str) -> None:
    size = sum(len(upload.data) for upload in form.files)
    if size > limits.max_upload_bytes:
        raise PayloadTooLarge(
            f"The upload is {size} bytes; the model '{model}' takes at most {limits.max_upload_bytes} bytes."
        )


def check_images(
    request: ImageRequest | VariationRequest, limits: MediaLimits, per_image: Mapping[str, Decimal]
) -> MediaUsage:
    """What the request will be billed for, once it asks for images the model serves and prices."""
    if request.count > limits.max_images:
        raise invalid("n", f"'n' is {request.count}; this model makes at most {limits.max_images} images a request.")
    usage = MediaUsage(
        images=request.count,
        image_size=request.wanted_size,
        image_quality=request.quality or DEFAULT_QUALITY,
    )
    if image_price(per_image, usage.image_size, usage.image_quality) is None:
        raise invalid(
            "size",
            f"This model does not offer {usage.image_size} images of quality '{usage.image_quality}'; "
            f"it offers: {priced_images(per_image)}.",
            "unsupported_size",
        )
    return usage


def check_image_file(upload: Upload, *, mask: bool = False) -> None:
    """Refuse a file that is not a whole PNG, JPEG or WebP image (a mask: a whole PNG)."""
    try:
        with Image.open(io.BytesIO(upload.data)) as picture:
            kind = picture.format or ""
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise _bad_image(upload, f"has {picture.width}x{picture.height} pixels, more than this gateway takes")
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _bad_image(upload, f"is not a valid image ({exc})") from exc
    if kind not in IMAGE_FORMATS or (mask and kind != "PNG"):
        wanted = "a PNG" if mask else "a PNG, JPEG or WebP image"
        raise _bad_image(upload, f"is {kind or 'an unknown format'}; it must be {wanted}")


def _bad_image(upload: Upload, problem: str) -> InvalidRequest:
    return InvalidRequest(f"The file '{upload.filename}' {problem}.", param=upload.field, code="invalid_image_format")


async def read_audio(upload: Upload, limits: MediaLimits, model: str) -> AudioInfo:
    """The upload's duration, read from the file (off the event loop: FFmpeg demuxes all of it)."""
    info = await asyncio.to_thread(probe_audio, upload.data, upload.filename)
    longest = limits.max_audio_seconds
    if longest is not None and info.seconds > longest:
        raise InvalidRequest(
            f"The file '{upload.filename}' is {info.seconds:.1f} s long; "
            f"the model '{model}' takes at most {longest:g} s.",
            param="file",
            code="audio_too_long",
        )
    return info
