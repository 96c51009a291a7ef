"""Images and audio through the official OpenAI Python SDK, sync and async, against a running Tollgate.

The simulator answers ``sim-*`` models; the fake OpenAI answers ``fake-*`` and ``vllm-*`` (a vLLM pool
whose audio endpoints speak OpenAI's format). Prices are in ``tests/conftest.py``; every cost below
is worked out by hand from them.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import av
import openai
import pytest
from PIL import Image

from tests.fakes.openai_media import SPEECH_BYTES, TRANSCRIPT
from tests.fakes.openai_server import FakeOpenAI
from tests.support.audio_files import tone
from tests.support.usage_events import wait_for_event

Fake = tuple[FakeOpenAI, str]


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def aclient(gateway_url: str, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def database(gateway_workdir: Path) -> Path:
    return gateway_workdir / "tollgate.db"


def picture(encoded: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_simulated_images_are_pngs_of_the_size_asked_and_priced_per_image(
    client: openai.OpenAI, database: Path
) -> None:
    raw = client.images.with_raw_response.generate(model="sim-image", prompt="a red fox", n=2, size="256x256")
    images = raw.parse()
    assert images.data is not None and len(images.data) == 2
    for image in images.data:
        assert image.b64_json is not None
        drawn = picture(image.b64_json)
        assert (drawn.format, drawn.size) == ("PNG", (256, 256))
    assert raw.headers["x-tollgate-cost-usd"] == "0.032000"  # 2 × $0.016
    assert raw.headers["x-tollgate-backend"] == "sim" and raw.headers["x-request-id"].startswith("req_")
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["endpoint"], event["images"], event["cost_micros"], event["outcome"]) == (
        "images/generations",
        2,
        32_000,
        "ok",
    )


async def test_simulated_image_as_url_is_a_data_url_of_a_png(aclient: openai.AsyncOpenAI) -> None:
    images = await aclient.images.generate(model="sim-image", prompt="a red fox", response_format="url")
    assert images.data is not None and images.data[0].url is not None
    prefix, _, encoded = images.data[0].url.partition(",")
    assert prefix == "data:image/png;base64"
    assert picture(encoded).size == (1024, 1024)  # no size: OpenAI's default


def test_images_from_the_provider_keep_its_answer_and_get_the_upstream_name(
    client: openai.OpenAI, fake_openai: Fake
) -> None:
    raw = client.images.with_raw_response.generate(model="fake-image", prompt="a red fox", response_format="url")
    assert raw.parse().data[0].url == "https://fake-openai.test/images/img-0.png"  # type: ignore[index]
    assert fake_openai[0].state.requests[-1]["model"] == "image-upstream"
    assert raw.headers["x-tollgate-cost-usd"] == "0.040000"  # 1024x1024 standard


async def test_auto_size_and_quality_are_priced_by_what_the_model_chose(
    aclient: openai.AsyncOpenAI, database: Path
) -> None:
    raw = await aclient.images.with_raw_response.generate(model="fake-image", prompt="x", size="auto", quality="auto")
    assert raw.parse().size == "1536x1024"
    assert raw.headers["x-tollgate-cost-usd"] == "0.250000"  # the fake chose 1536x1024, high
    assert wait_for_event(database, raw.headers["x-request-id"])["images"] == 1


def test_image_edits_on_the_simulator_and_the_provider(client: openai.OpenAI, fake_openai: Fake) -> None:
    source = Image.new("RGB", (64, 48), (10, 200, 30))
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    png = buffer.getvalue()
    edited = client.images.edit(model="sim-image", image=("in.png", png, "image/png"), prompt="make it blue", n=1)
    assert edited.data is not None and picture(edited.data[0].b64_json or "").size == (1024, 1024)
    raw = client.images.with_raw_response.edit(
        model="fake-image", image=("in.png", png, "image/png"), prompt="make it blue", size="256x256"
    )
    assert raw.headers["x-tollgate-cost-usd"] == "0.016000"
    form = fake_openai[0].state.forms[-1]
    assert form["fields"]["model"] == ["image-upstream"] and form["fields"]["prompt"] == ["make it blue"]
    assert form["files"]["image"] == [("in.png", "image/png", png)]  # the upload arrives byte for byte


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt", "verbose_json"])
def test_simulated_transcripts_in_every_format(client: openai.OpenAI, database: Path, response_format: str) -> None:
    audio = tone("wav", 4.0)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="sim-whisper", file=("speech.wav", audio, "audio/wav"), response_format=response_format
    )  # type: ignore[call-overload]
    answer = raw.parse()
    text = answer if isinstance(answer, str) else answer.text
    assert len(text.split()) >= 10  # about 2.5 words a second of audio
    if response_format == "srt":
        assert text.startswith("1\n00:00:00,000 --> 00:00:04,000\n")
    if response_format == "vtt":
        assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:04.000\n")
    if response_format == "verbose_json":
        assert answer.duration == 4.0 and answer.segments[0].end == 4.0
    assert raw.headers["x-tollgate-cost-usd"] == "0.000400"  # 4.000 s × $0.0001
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["endpoint"], event["audio_seconds"], event["cost_micros"]) == ("audio/transcriptions", 4.0, 400)


async def test_word_and_segment_timestamps(aclient: openai.AsyncOpenAI) -> None:
    verbose = await aclient.audio.transcriptions.create(
        model="sim-whisper",
        file=("speech.flac", tone("flac", 2.0), "audio/flac"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.words is not None and verbose.segments is not None
    assert verbose.words[-1].end == 2.0 and [w.word for w in verbose.words] == verbose.text.split()


def test_transcription_by_the_provider_is_billed_by_the_file_not_by_its_word(
    client: openai.OpenAI, fake_openai: Fake, database: Path
) -> None:
    audio = tone("mp3", 7.5)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="fake-whisper",
        file=("talk.mp3", audio, "audio/mpeg"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
        language="en",
    )
    verbose = raw.parse()
    assert verbose.text == TRANSCRIPT and verbose.words is not None
    form = fake_openai[0].state.forms[-1]
    assert form["fields"]["model"] == ["whisper-upstream"] and form["fields"]["language"] == ["en"]
    assert form["fields"]["timestamp_granularities[]"] == ["word"]
    assert form["files"]["file"] == [("talk.mp3", "audio/mpeg", audio)]
    # The fake says 3 s; the file plays 7.5 s, and that is what is billed: 7.5 × $0.0001.
    assert raw.headers["x-tollgate-cost-usd"] == "0.000750"
    assert wait_for_event(database, raw.headers["x-request-id"])["audio_seconds"] == 7.5


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks translations deprecated
@pytest.mark.parametrize("model", ["fake-whisper", "vllm-whisper"])
async def test_translations_through_openai_and_vllm(aclient: openai.AsyncOpenAI, fake_openai: Fake, model: str) -> None:
    raw = await aclient.audio.translations.with_raw_response.create(
        model=model, file=("talk.ogg", tone("ogg", 2.0), "audio/ogg"), response_format="text"
    )
    assert raw.parse() == f"{TRANSCRIPT}\n"
    assert fake_openai[0].state.forms[-1]["path"] == "/v1/audio/translations"
    assert raw.headers["x-tollgate-backend"] == model.split("-")[0].replace("fake", "fake-openai")


def test_simulated_speech_is_a_wav_of_plausible_length_priced_by_character(
    client: openai.OpenAI, database: Path
) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    raw = client.audio.speech.with_raw_response.create(
        model="sim-tts", voice="alloy", input=text, response_format="wav"
    )
    assert raw.headers["content-type"] == "audio/wav"
    with av.open(io.BytesIO(raw.content)) as wav:
        seconds = wav.duration / av.time_base  # type: ignore[operator]
        assert wav.streams.audio[0].codec_context.name == "pcm_s16le"
    assert 2.0 < seconds < 6.0  # nine words at a talking pace
    assert raw.headers["x-tollgate-cost-usd"] == "0.000660"  # 44 characters × $15/M
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["endpoint"], event["characters"], event["cost_micros"], event["streamed"]) == (
        "audio/speech",
        44,
        660,
        1,
    )


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "pcm"])
async def test_simulated_speech_streams_in_the_requested_format(
    aclient: openai.AsyncOpenAI, response_format: str
) -> None:
    async with aclient.audio.speech.with_streaming_response.create(
        model="sim-tts", voice="alloy", input="one two three four five six", response_format=response_format
    ) as response:
        pieces = [piece async for piece in response.iter_bytes()]
    audio = b"".join(pieces)
    if response_format == "pcm":  # 24 kHz, 16-bit mono, no header
        assert len(audio) % 2 == 0 and 1.0 < len(audio) / 48_000 < 4.0
        return
    with av.open(io.BytesIO(audio)) as decoded:
        codec = decoded.streams.audio[0].codec_context.name
        frames = sum(frame.samples for frame in decoded.decode(audio=0))
    assert codec.startswith({"mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac"}[response_format])
    assert frames > 24_000  # over a second of sound


def test_provider_speech_is_relayed_byte_for_byte(client: openai.OpenAI, fake_openai: Fake) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="fake-tts", voice="nova", input="hello", response_format="flac", speed=1.25
    ) as response:
        assert response.headers["content-type"] == "audio/flac"
        assert response.read() == SPEECH_BYTES
        assert response.headers["x-tollgate-cost-usd"] == "0.000075"  # 5 characters × $15/M
    sent = fake_openai[0].state.requests[-1]
    assert (sent["model"], sent["voice"], sent["speed"]) == ("tts-upstream", "nova", 1.25)


async def test_async_image_edit_with_a_mask(aclient: openai.AsyncOpenAI, fake_openai: Fake) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(buffer, format="PNG")
    png = buffer.getvalue()
    edited = await aclient.images.edit(
        model="fake-image", image=[("a.png", png, "image/png"), ("b.png", png, "image/png")], mask=png, prompt="x"
    )
    assert edited.data is not None and len(edited.data) == 1
    files = fake_openai[0].state.forms[-1]["files"]
    assert [name for name, _, _ in files["image[]"]] == ["a.png", "b.png"] and len(files["mask"]) == 1


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_sync_translation_on_the_simulator(client: openai.OpenAI, database: Path) -> None:
    raw = client.audio.translations.with_raw_response.create(
        model="sim-whisper", file=("talk.m4a", tone("m4a", 2.0), "audio/mp4"), response_format="verbose_json"
    )
    assert raw.parse().text and raw.headers["x-tollgate-cost-usd"] == "0.000200"  # 2 s × $0.0001
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["endpoint"], event["audio_seconds"]) == ("audio/translations", 2.0)
