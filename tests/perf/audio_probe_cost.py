"""What reading an upload's duration costs: demuxing (what the gateway does) against decoding, in one run.

For each accepted container, a 10-minute tone is encoded, then timed (best of 3) through
``backends.audio_probe.probe_audio`` and through a full decode with PyAV, and the two durations are
compared. Run: ``python -m tests.perf.audio_probe_cost`` (prints a Markdown table).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import av

from backends.audio_probe import probe_audio
from tests.support.audio_files import CONTAINERS, tone

SECONDS = 600.0


def _best(work: Callable[[], float], rounds: int = 3) -> tuple[float, float]:
    """(best wall time in seconds, the duration it found)."""
    best, found = float("inf"), 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        found = work()
        best = min(best, time.perf_counter() - started)
    return best, found


def _decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        samples, rate = 0, 1
        for frame in container.decode(audio=0):
            samples, rate = samples + frame.samples, frame.sample_rate
        return samples / rate


def main() -> None:
    print("| container | file size | demux (gateway) | full decode | decode / demux | duration read | decoded |")
    print("|---|---|---|---|---|---|---|")
    for name in sorted(CONTAINERS):
        data = tone(name, SECONDS)
        demux, read = _best(lambda data=data, name=name: probe_audio(data, f"a.{name}").seconds)
        decode, decoded = _best(lambda data=data: _decoded_seconds(data))
        print(
            f"| {name} | {len(data) / 1e6:.1f} MB | {demux * 1000:.0f} ms | {decode * 1000:.0f} ms "
            f"| {decode / demux:.1f}× | {read:.3f} s | {decoded:.3f} s |"
        )


if __name__ == "__main__":
    main()
