"""Real audio files of every container the transcription endpoints take, encoded with FFmpeg (PyAV)."""

from __future__ import annotations

import io

import av
import numpy as np

# container name as uploaded -> (FFmpeg muxer, codec, sample rate)
CONTAINERS = {
    "wav": ("wav", "pcm_s16le", 16_000),
    "mp3": ("mp3", "libmp3lame", 24_000),
    "flac": ("flac", "flac", 16_000),
    "ogg": ("ogg", "libopus", 48_000),
    "m4a": ("ipod", "aac", 24_000),
    "webm": ("webm", "libopus", 48_000),
}
MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "webm": "audio/webm",
}


def tone(container: str, seconds: float, pitch: float = 440.0) -> bytes:
    """``seconds`` of a sine tone, encoded as ``container`` (a key of CONTAINERS)."""
    muxer, codec, rate = CONTAINERS[container]
    buffer = io.BytesIO()
    samples = round(seconds * rate)
    pcm = (np.sin(2 * np.pi * pitch * np.arange(samples) / rate) * 8000).astype(np.int16)
    with av.open(buffer, mode="w", format=muxer) as output:
        stream = output.add_stream(codec, rate=rate, layout="mono")
        for start in range(0, samples, rate // 10):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + rate // 10], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                output.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            output.mux(packet)
    return buffer.getvalue()
