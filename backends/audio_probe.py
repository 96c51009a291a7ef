"""How long an uploaded audio file plays, read from the file itself with FFmpeg (through PyAV).

The duration is the span of the audio stream's packet timestamps, less an encoder's padding (see
``_without_padding``). The container is demuxed to the end, which needs no decoding: a few times
faster than decoding, and right for files whose header carries no duration, such as a browser's
WebM recording, or a VBR MP3 without a Xing header. The first packets are decoded too, so that a
file whose header is fine but whose audio is not is refused rather than billed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av

from gateway.core.errors import InvalidRequest

# FFmpeg's demuxer names of the containers OpenAI's audio endpoints accept (mp4 and m4a share one).
ACCEPTED_CONTAINERS = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "mov": "m4a",
    "mp4": "mp4",
    "m4a": "m4a",
    "matroska": "webm",
    "webm": "webm",
}
ACCEPTED_NAMES = "flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm"
_DEMUXERS = "wav,mp3,flac,ogg,mov,matroska"
_DECODED_PACKETS = 8
_MAX_PADDING_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class AudioInfo:
    container: str  # one of ACCEPTED_CONTAINERS' values
    codec: str
    seconds: float
    sample_rate: int


def unreadable(filename: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"The file '{filename}' {problem}", param="file", code="invalid_file_format")


def probe_audio(data: bytes, filename: str) -> AudioInfo:
    """The file's container, codec and duration; a 400 naming the problem when it is not audio
    this gateway accepts. CPU-bound: call it off the event loop for large files."""
    try:
        # Only these demuxers may run: none that follows references to other files or URLs (HLS, concat).
        container = av.open(io.BytesIO(data), mode="r", options={"format_whitelist": _DEMUXERS})
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise unreadable(
            filename, f"could not be read as audio in a supported format ({ACCEPTED_NAMES}): {_reason(exc)}."
        ) from exc
    with container:
        kind = _kind(container.format.name)
        if not container.streams.audio:
            raise unreadable(filename, f"is a {kind} file without an audio stream.")
        stream = container.streams.audio[0]
        try:
            seconds = _span(container, stream)
        except (av.FFmpegError, ValueError) as exc:
            raise unreadable(filename, f"is not valid {kind} audio ({_reason(exc)}).") from exc
        if seconds <= 0:
            raise unreadable(filename, f"is a {kind} file without any audio in it.")
        seconds = _without_padding(seconds, container.duration)
        return AudioInfo(kind, stream.codec_context.name, seconds, stream.codec_context.sample_rate or 0)


def _kind(format_name: str) -> str:
    """``mov,mp4,m4a,3gp,3g2,mj2`` is m4a, ``matroska,webm`` is webm."""
    return next(ACCEPTED_CONTAINERS[n] for n in format_name.split(",") if n in ACCEPTED_CONTAINERS)


def _span(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    start: int | None = None
    end = 0
    decoded = 0
    for packet in container.demux(stream):
        if packet.pts is None:
            continue  # the demuxer's final empty packet
        if decoded < _DECODED_PACKETS:
            packet.decode()
            decoded += 1
        start = packet.pts if start is None else min(start, packet.pts)
        end = max(end, packet.pts + (packet.duration or 0))
    if start is None or stream.time_base is None:
        return 0.0
    return float((end - start) * Fraction(stream.time_base))


def _without_padding(span: float, declared: int | None) -> float:
    """MP3 and AAC encoders pad the stream by a frame or two (40–60 ms) that the header's duration
    leaves out. The header is believed only for that: a declared duration shorter than the packets
    by more than a few frames is not padding, and the packets are billed."""
    if declared is None or declared <= 0:
        return span
    seconds = declared / av.time_base
    return seconds if 0 <= span - seconds <= _MAX_PADDING_SECONDS else span


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).rstrip(".")
