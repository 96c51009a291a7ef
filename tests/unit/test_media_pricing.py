"""Image, audio and speech costs against hand-computed values, in integer micro-dollars."""

from __future__ import annotations

from decimal import Decimal

from gateway.metering.media_units import MediaUsage, image_price, media_cost_usd
from gateway.metering.pricing import ModelRates, to_micros

DALL_E = {
    "1024x1024/standard": Decimal("0.040"),
    "1024x1024/hd": Decimal("0.080"),
    "1792x1024/hd": Decimal("0.120"),
    "256x256": Decimal("0.016"),
}
IMAGES = ModelRates(per_image=DALL_E)
WHISPER = ModelRates(per_audio_second=Decimal("0.0001"))  # $0.006 a minute
TTS = ModelRates(per_mchar=Decimal("15.00"))


def micros(rates: ModelRates, usage: MediaUsage, markup: str = "0") -> int:
    return to_micros(media_cost_usd(rates, usage), Decimal(markup))


def test_images_are_priced_by_count_size_and_quality() -> None:
    # 3 × $0.08 = $0.24
    assert micros(IMAGES, MediaUsage(images=3, image_size="1024x1024", image_quality="hd")) == 240_000
    # 2 × $0.04 = $0.08
    assert micros(IMAGES, MediaUsage(images=2, image_size="1024x1024", image_quality="standard")) == 80_000


def test_a_size_alone_prices_every_quality_of_it() -> None:
    assert image_price(DALL_E, "256x256", "standard") == Decimal("0.016")
    assert image_price(DALL_E, "256x256", "hd") == Decimal("0.016")
    # 5 × $0.016 = $0.08
    assert micros(IMAGES, MediaUsage(images=5, image_size="256x256", image_quality="hd")) == 80_000


def test_what_the_table_does_not_price_is_not_offered() -> None:
    assert image_price(DALL_E, "512x512", "standard") is None
    assert image_price(DALL_E, "1792x1024", "standard") is None


def test_auto_is_reserved_at_the_dearest_match() -> None:
    assert image_price(DALL_E, "auto", "hd") == Decimal("0.120")  # 1792x1024/hd
    assert image_price(DALL_E, "1024x1024", "auto") == Decimal("0.080")  # 1024x1024/hd
    assert image_price(DALL_E, "auto", "auto") == Decimal("0.120")


def test_a_model_without_an_image_table_is_free() -> None:
    assert image_price({}, "640x480", "whatever") == Decimal(0)
    assert micros(ModelRates(), MediaUsage(images=4, image_size="640x480")) == 0


def test_audio_is_priced_per_second_to_the_millisecond() -> None:
    # 62.0625 s is billed as 62.063 s (half up): 62.063 × $0.0001 = $0.0062063 → 6206.3 → 6206 micro-dollars
    assert micros(WHISPER, MediaUsage(audio_seconds=62.0625)) == 6206
    # 0.0015 s → 0.002 s (half up) at $1 a second = 2000 micro-dollars
    assert micros(ModelRates(per_audio_second=Decimal(1)), MediaUsage(audio_seconds=0.0015)) == 2000
    # 10 minutes at $0.006 a minute = $0.06
    assert micros(WHISPER, MediaUsage(audio_seconds=600.0)) == 60_000


def test_speech_is_priced_per_million_characters() -> None:
    # 4096 × $15 / 1,000,000 = $0.06144
    assert micros(TTS, MediaUsage(characters=4096)) == 61_440
    # 1 character = $0.000015 = 15 micro-dollars
    assert micros(TTS, MediaUsage(characters=1)) == 15


def test_a_customer_markup_applies_to_media_too() -> None:
    # 7 characters × $15/M = 105 micro-dollars; +10 % = 115.5 → 116
    assert micros(TTS, MediaUsage(characters=7), markup="10") == 116
    # 1 HD image $0.08 at -25 % = $0.06
    assert micros(IMAGES, MediaUsage(images=1, image_size="1024x1024", image_quality="hd"), markup="-25") == 60_000


def test_units_a_model_has_no_price_for_cost_nothing() -> None:
    assert micros(TTS, MediaUsage(audio_seconds=30.0)) == 0
    assert micros(WHISPER, MediaUsage(characters=500)) == 0
