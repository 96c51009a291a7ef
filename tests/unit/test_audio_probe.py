"""Audio duration read from real files of every accepted container, encoded here with FFmpeg."""

from __future__ import annotations

import pytest

from backends.audio_probe import probe_audio
from gateway.core.errors import InvalidRequest
from tests.support.audio_files import CONTAINERS, tone

# Opus keeps a few milliseconds of pre-skip in its timestamps; every other codec is exact here.
TOLERANCE = 0.01


@pytest.mark.parametrize("container", sorted(CONTAINERS))
@pytest.mark.parametrize("seconds", [0.7, 12.35])
def test_duration_of_each_container(container: str, seconds: float) -> None:
    info = probe_audio(tone(container, seconds), f"speech.{container}")
    assert info.container == container
    assert info.seconds == pytest.approx(seconds, abs=TOLERANCE)


def test_a_file_without_a_duration_in_its_header_is_measured_by_its_packets() -> None:
    # A WebM recorded by a browser has no duration in its header; demuxing finds it all the same.
    whole = tone("webm", 5.0)
    info = probe_audio(whole, "recording.webm")
    assert info.seconds == pytest.approx(5.0, abs=TOLERANCE) and info.codec == "opus"


def test_a_truncated_file_is_billed_for_what_it_holds() -> None:
    whole = tone("wav", 6.0)
    assert probe_audio(whole[: len(whole) // 2], "cut.wav").seconds == pytest.approx(3.0, abs=TOLERANCE)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "could not be read as audio"),
        (b"this is plain text, not audio at all" * 10, "could not be read as audio"),
        (tone("mp3", 1.0)[:200] + bytes(4000), "could not be read as audio"),
        (tone("flac", 3.0)[:100] + bytes(60_000), "is a flac file without any audio in it"),
        (tone("wav", 1.0)[:30], "could not be read as audio"),
    ],
)
def test_corrupt_files_are_refused_with_the_reason(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        probe_audio(data, "upload.bin")
    assert caught.value.message.startswith("The file 'upload.bin' ")
    assert problem in caught.value.message
    assert (caught.value.param, caught.value.code, caught.value.http_status) == ("file", "invalid_file_format", 400)


def test_containers_openai_does_not_take_are_refused() -> None:
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="aiff") as output:  # AIFF: real audio, not on OpenAI's list
        stream = output.add_stream("pcm_s16be", rate=8000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=8000)
        frame.sample_rate = 8000
        for packet in stream.encode(frame):  # type: ignore[union-attr]
            output.mux(packet)
    with pytest.raises(InvalidRequest) as caught:
        probe_audio(buffer.getvalue(), "voice.aiff")
    assert "could not be read as audio in a supported format (flac, m4a, mp3, mp4" in caught.value.message


def test_playlists_that_point_at_other_files_are_not_followed() -> None:
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    concat = b"ffconcat version 1.0\nfile /etc/passwd\n"
    for data in (playlist, concat):
        with pytest.raises(InvalidRequest, match="could not be read as audio"):
            probe_audio(data, "list.m3u8")
