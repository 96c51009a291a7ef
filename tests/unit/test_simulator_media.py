"""The simulator's images and audio: real PNGs, transcripts as long as the audio, speech that plays."""

from __future__ import annotations

import base64
import io
import wave

import msgspec
import pytest
from PIL import Image

from backends import simulator_audio, simulator_images
from backends.base import Form, Operation, Upload
from backends.simulator import VOCABULARY
from gateway.core.errors import InvalidRequest
from tests.support.audio_files import tone


def test_images_have_the_requested_size_and_depend_on_the_prompt() -> None:
    first = simulator_images.generate({"prompt": "a lighthouse", "n": 2, "size": "320x200"})
    again = simulator_images.generate({"prompt": "a lighthouse", "n": 2, "size": "320x200"})
    other = simulator_images.generate({"prompt": "a meadow", "n": 1, "size": "320x200"})
    pictures = [Image.open(io.BytesIO(base64.b64decode(d["b64_json"]))) for d in first["data"]]
    assert [(p.format, p.size) for p in pictures] == [("PNG", (320, 200))] * 2
    assert first["data"] == again["data"] and first["data"][0] != other["data"][0]
    assert first["data"][0] != first["data"][1]  # each image of a request differs
    assert (first["size"], first["quality"], first["output_format"]) == ("320x200", "standard", "png")


def test_other_output_formats() -> None:
    answer = simulator_images.generate({"prompt": "x", "size": "64x64", "output_format": "webp"})
    assert Image.open(io.BytesIO(base64.b64decode(answer["data"][0]["b64_json"]))).format == "WEBP"
    with pytest.raises(InvalidRequest):
        simulator_images.generate({"prompt": "x", "output_format": "gif"})


def test_an_edit_draws_over_the_upload() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 0, 255)).save(buffer, format="PNG")
    upload = Upload("image[]", "in.png", "image/png", buffer.getvalue())
    kept = simulator_images.edit(Form([("prompt", "x"), ("size", "auto")], [upload]))
    picture = Image.open(io.BytesIO(base64.b64decode(kept["data"][0]["b64_json"])))
    assert picture.size == (40, 30) and picture.getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("seconds", [1.0, 30.0])
def test_a_transcript_is_as_long_as_its_audio(seconds: float) -> None:
    form = Form([("response_format", "verbose_json")], [Upload("file", "a.wav", "audio/wav", tone("wav", seconds))])
    answer = msgspec.json.decode(simulator_audio.transcribe(Operation.TRANSCRIPTIONS, form, VOCABULARY).body)
    assert answer["duration"] == seconds and answer["segments"][-1]["end"] == seconds
    assert len(answer["text"].split()) == max(1, round(seconds * 2.5))
    assert "words" not in answer  # only asked for (with timestamp_granularities[]=word)


def test_srt_cues_cover_the_audio() -> None:
    form = Form([("response_format", "srt")], [Upload("file", "a.mp3", "audio/mpeg", tone("mp3", 10.0))])
    srt = simulator_audio.transcribe(Operation.TRANSCRIPTIONS, form, VOCABULARY).body.decode()
    cues = srt.strip().split("\n\n")
    assert len(cues) == 3  # 25 words, 12 to a cue
    assert cues[0].startswith("1\n00:00:00,000 --> ") and cues[-1].split("\n")[1].endswith("--> 00:00:10,000")


async def test_speech_wav_is_valid_and_as_long_as_it_says() -> None:
    text = "Tollgate meters every modality in its own unit."
    audio = b"".join([chunk async for chunk in simulator_audio.speak({"input": text, "response_format": "wav"})])
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24_000)
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(simulator_audio.speech_seconds(text, 1.0))
    assert 2.0 < seconds < 6.0  # eight words, spoken at a plausible pace
    faster = b"".join([c async for c in simulator_audio.speak({"input": text, "response_format": "wav", "speed": 2})])
    assert len(faster) < len(audio) * 0.6


async def test_speech_in_an_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        async for _ in simulator_audio.speak({"input": "hi", "response_format": "ogg"}):
            pass
    assert caught.value.param == "response_format"
