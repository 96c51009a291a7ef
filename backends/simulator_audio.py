"""The simulator's audio: transcripts of uploaded files, and speech as a stream of tones.

A transcript is a function of the file's bytes: about 2.5 words a second of its real duration
(read with :mod:`backends.audio_probe`), spread evenly over that duration in segments. Speech is a
tone per word (pitch from the word, length from its letters and ``speed``), 24 kHz mono 16-bit
like OpenAI's ``pcm``; ``wav`` and ``pcm`` are written directly, ``mp3``, ``opus`` (Ogg), ``aac``
(ADTS) and ``flac`` are encoded with FFmpeg through PyAV, and all of them leave word by word.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

import av
import msgspec

from backends.audio_probe import probe_audio
from backends.base import JSON, Form, Operation, Payload
from gateway.core.errors import InvalidRequest

SAMPLE_RATE = 24_000
WORDS_PER_SECOND = 2.5
WORDS_PER_SEGMENT = 12
CHARACTERS_PER_SECOND = 15.0
_BLOCK = SAMPLE_RATE // 100  # 10 ms: a whole number of cycles of every multiple of 100 Hz
_ENCODED = {"mp3": ("mp3", "libmp3lame"), "opus": ("ogg", "libopus"), "aac": ("adts", "aac"), "flac": ("flac", "flac")}
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")

_json = msgspec.json.Encoder().encode


def transcribe(op: Operation, form: Form, vocabulary: Sequence[str]) -> Payload:
    upload = next((f for f in form.files if f.field == "file"), None)
    if upload is None:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    seconds = probe_audio(upload.data, upload.filename).seconds
    fields = dict(form.fields)
    words = _words(upload.data, max(1, round(seconds * WORDS_PER_SECOND)), vocabulary)
    segments = _segments(words, seconds)
    text = " ".join(words)
    kind = fields.get("response_format") or "json"
    if kind == "text":
        return Payload(f"{text}\n".encode(), "text/plain; charset=utf-8")
    if kind == "srt":
        return Payload(_subtitles(segments, ",", srt=True).encode(), "application/x-subrip; charset=utf-8")
    if kind == "vtt":
        return Payload(("WEBVTT\n\n" + _subtitles(segments, ".", srt=False)).encode(), "text/vtt; charset=utf-8")
    usage = {"type": "duration", "seconds": math.ceil(seconds)}
    if kind == "json":
        return Payload(_json({"text": text, "usage": usage}), "application/json")
    granularities = [v for k, v in form.fields if k in ("timestamp_granularities[]", "timestamp_granularities")]
    verbose: JSON = {
        "task": "translate" if op is Operation.TRANSLATIONS else "transcribe",
        "language": "english" if op is Operation.TRANSLATIONS else fields.get("language") or "english",
        "duration": round(seconds, 3),
        "text": text,
        "usage": usage,
    }
    if "segment" in granularities or not granularities:
        verbose["segments"] = [_segment_json(i, s) for i, s in enumerate(segments)]
    if "word" in granularities:
        verbose["words"] = [{"word": w, "start": start, "end": end} for w, start, end in _timed_words(words, seconds)]
    return Payload(_json(verbose), "application/json")


def _words(data: bytes, count: int, vocabulary: Sequence[str]) -> list[str]:
    state = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    words = []
    for _ in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        words.append(vocabulary[(state >> 33) % len(vocabulary)])
    return words


def _timed_words(words: list[str], seconds: float) -> Iterator[tuple[str, float, float]]:
    step = seconds / len(words)
    for index, word in enumerate(words):
        yield word, round(index * step, 3), round((index + 1) * step, 3)


def _segments(words: list[str], seconds: float) -> list[tuple[float, float, str]]:
    timed = list(_timed_words(words, seconds))
    out = []
    for first in range(0, len(timed), WORDS_PER_SEGMENT):
        group = timed[first : first + WORDS_PER_SEGMENT]
        out.append((group[0][1], group[-1][2], " ".join(w for w, _, _ in group)))
    return out


def _segment_json(index: int, segment: tuple[float, float, str]) -> JSON:
    start, end, text = segment
    return {
        "id": index,
        "seek": int(start * 100),
        "start": start,
        "end": end,
        "text": f" {text}",
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.2,
        "no_speech_prob": 0.01,
    }


def _subtitles(segments: list[tuple[float, float, str]], comma: str, *, srt: bool) -> str:
    cues = []
    for index, (start, end, text) in enumerate(segments, 1):
        number = f"{index}\n" if srt else ""
        cues.append(f"{number}{_clock(start, comma)} --> {_clock(end, comma)}\n{text}\n")
    return "\n".join(cues)


def _clock(seconds: float, comma: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{comma}{millis:03d}"


def speech_seconds(text: str, speed: float) -> float:
    """How long the simulator speaks ``text``: the sum of its word tones and their gaps."""
    return sum(len(tone) for _, tone in _tones(text, speed)) / 2 / SAMPLE_RATE


def _tones(text: str, speed: float) -> Iterator[tuple[str, bytes]]:
    """(word, 16-bit PCM of its tone and the pause after it) for each word of ``text``."""
    for word in text.split() or [text]:
        pitch = 200 + 100 * (hashlib.sha256(word.encode()).digest()[0] % 7)
        cycle = struct.pack(
            f"<{_BLOCK}h", *(int(6000 * math.sin(2 * math.pi * pitch * i / SAMPLE_RATE)) for i in range(_BLOCK))
        )
        blocks = max(1, round((len(word) + 1) / CHARACTERS_PER_SECOND * 100 / speed))
        pause = bytes(2 * _BLOCK * max(1, round(4 / speed)))
        yield word, cycle * blocks + pause


async def speak(body: JSON) -> AsyncIterator[bytes]:
    text = str(body.get("input") or "")
    speed = float(body.get("speed") or 1.0)
    kind = body.get("response_format") or "mp3"
    if kind not in SPEECH_FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'response_format': '{kind}'; supported: {', '.join(SPEECH_FORMATS)}.",
            param="response_format",
        )
    if kind == "pcm":
        for _, pcm in _tones(text, speed):
            yield pcm
    elif kind == "wav":
        yield _wav_header(int(speech_seconds(text, speed) * SAMPLE_RATE))
        for _, pcm in _tones(text, speed):
            yield pcm
    else:
        for chunk in _encoded(text, speed, *_ENCODED[kind]):
            yield chunk


def _wav_header(samples: int) -> bytes:
    size = samples * 2
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + (struct.pack("<I", size))
    )


class _Sink:
    """A write-only file for FFmpeg's muxer: what it writes is taken away after each word."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _encoded(text: str, speed: float, container: str, codec: str) -> Iterator[bytes]:
    sink = _Sink()
    with av.open(sink, mode="w", format=container) as output:
        stream = cast(av.AudioStream, output.add_stream(codec, rate=SAMPLE_RATE, layout="mono"))
        position = 0
        for _, pcm in _tones(text, speed):
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
            frame.planes[0].update(pcm)
            frame.sample_rate, frame.pts = SAMPLE_RATE, position
            position += frame.samples
            for packet in stream.encode(frame):
                output.mux(packet)
            chunk = sink.take()
            if chunk:
                yield chunk
        for packet in stream.encode(None):
            output.mux(packet)
    tail = sink.take()  # the muxer's trailer, written when the container closes
    if tail:
        yield tail
