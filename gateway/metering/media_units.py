"""The units of the image and audio endpoints, and what they cost.

- Images: per image, by ``size/quality`` from the model's ``per_image`` table (for example
  ``{"1024x1024/standard": "0.04", "1024x1024/hd": "0.08"}``); a key of the size alone prices every
  quality of that size. A model with a table serves only what the table prices. ``auto`` (the
  model chooses) is priced by what the answer says it chose, and reserved at the dearest match.
- Transcription and translation: per second of the uploaded audio, measured to the millisecond.
- Speech: per million characters of input (``per_mchar``), as OpenAI prices its TTS models.

Money is ``Decimal`` dollars here; the meter turns the request's total into micro-dollars once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from gateway.metering.pricing import ModelRates

AUTO = "auto"
DEFAULT_QUALITY = "standard"
_MILLISECOND = Decimal("0.001")
_MILLION = Decimal(1_000_000)


class MediaUsage(msgspec.Struct, frozen=True):
    images: int = 0
    image_size: str = AUTO
    image_quality: str = DEFAULT_QUALITY
    audio_seconds: float = 0.0
    characters: int = 0


NO_MEDIA = MediaUsage()


def image_price(per_image: Mapping[str, Decimal], size: str, quality: str) -> Decimal | None:
    """The price of one image; None when the table prices no such image. An empty table is free."""
    if not per_image:
        return Decimal(0)
    for key in (f"{size}/{quality}", size):
        if key in per_image:
            return per_image[key]
    if AUTO not in (size, quality):
        return None
    return max((price for key, price in per_image.items() if _may_be(key, size, quality)), default=None)


def _may_be(key: str, size: str, quality: str) -> bool:
    key_size, _, key_quality = key.partition("/")
    size_fits = size == AUTO or key_size == size
    return size_fits and (quality == AUTO or not key_quality or key_quality == quality)


def priced_images(per_image: Mapping[str, Decimal]) -> str:
    """The table's keys, for an error message."""
    return ", ".join(sorted(per_image)) or "any"


def billed_seconds(seconds: float) -> Decimal:
    return Decimal(seconds).quantize(_MILLISECOND, rounding=ROUND_HALF_UP)


def media_cost_usd(rates: ModelRates, usage: MediaUsage) -> Decimal:
    cost = Decimal(0)
    if usage.images:
        cost += usage.images * (image_price(rates.per_image, usage.image_size, usage.image_quality) or Decimal(0))
    if usage.audio_seconds and rates.per_audio_second is not None:
        cost += billed_seconds(usage.audio_seconds) * rates.per_audio_second
    if usage.characters and rates.per_mchar is not None:
        cost += usage.characters * rates.per_mchar / _MILLION
    return cost
