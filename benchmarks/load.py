"""A load generator cheap enough to share two cores with the system it measures, and its statistics.

Each connection is an asyncio protocol that drives itself: it writes fixed, pre-encoded request
bytes, parses only the status line and the ``Content-Length`` or chunked framing of the answer, and
writes the next request from ``data_received``. No coroutine, future or parser object is created
per request. For streams it also notes when the first ``data:`` byte of the body arrived.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from typing import cast

_HEADER_END = b"\r\n\r\n"
_CHUNKED = b"\r\ntransfer-encoding: chunked"
_CONTENT_LENGTH = b"\r\ncontent-length:"
_DATA = b"data:"
RECYCLE_IDLE_SECONDS = 2.0


class BenchError(Exception):
    """The measured system misbehaved (refused, hung up, or answered something unreadable)."""


def encode_request(
    method: str, path: str, host: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 keep-alive request, encoded once and written as is for every repetition."""
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}", "connection: keep-alive"]
    if body or method == "POST":
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Samples:
    """Seconds per request: from writing the request to the last byte of the answer, and (streams)
    to the first ``data:`` byte. ``elapsed`` is the wall time the samples were taken over."""

    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def merge(self, other: Samples) -> None:
        self.latencies += other.latencies
        self.first_bytes += other.first_bytes
        self.errors += other.errors
        self.elapsed += other.elapsed


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    first_byte_p50_ms: float
    first_byte_p99_ms: float


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def summarize(samples: Samples) -> Summary:
    ms = 1000.0
    return Summary(
        requests=len(samples.latencies),
        errors=samples.errors,
        rps=len(samples.latencies) / samples.elapsed if samples.elapsed > 0 else math.nan,
        p50_ms=percentile(samples.latencies, 50) * ms,
        p99_ms=percentile(samples.latencies, 99) * ms,
        first_byte_p50_ms=percentile(samples.first_bytes, 50) * ms,
        first_byte_p99_ms=percentile(samples.first_bytes, 99) * ms,
    )


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._request = b""
        self._deadline = 0.0
        self._samples = Samples()
        self._track_first = False
        self._done: asyncio.Future[float] | None = None
        self._sent_at = 0.0
        self._first_at = 0.0
        self._reset_framing()

    def _reset_framing(self) -> None:
        self._body_start = -1  # -1 until the header block has arrived
        self._status = 0
        self._length = -1  # -1: chunked
        self._scan = 0  # chunked: where the next chunk-size line starts

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._done is not None and not self._done.done():
            self._done.set_exception(BenchError(f"connection lost mid-request: {exc or 'closed by peer'}"))

    def begin(self, request: bytes, deadline: float, samples: Samples, *, track_first: bool) -> asyncio.Future[float]:
        """Send ``request`` over and over until ``deadline``; the future gives the time the last
        answer ended."""
        if self._transport is None:
            raise BenchError("connection is closed")
        self._request, self._deadline, self._samples = request, deadline, samples
        self._track_first = track_first
        self._done = asyncio.get_running_loop().create_future()
        self._send()
        return self._done

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _send(self) -> None:
        assert self._transport is not None
        self._first_at = 0.0
        self._sent_at = time.perf_counter()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self._buffer + data if self._buffer else data
        if self._body_start < 0 and not self._parse_head(buffer):
            self._buffer = buffer
            return
        if self._track_first and not self._first_at and buffer.find(_DATA, self._body_start) >= 0:
            self._first_at = now
        end = self._body_end(buffer)
        if end < 0:
            self._buffer = buffer
            return
        self._buffer = buffer[end:]
        self._finish(now)

    def _parse_head(self, buffer: bytes) -> bool:
        end = buffer.find(_HEADER_END)
        if end < 0:
            return False
        head = buffer[:end].lower()
        self._status = int(buffer[9:12])
        self._body_start = self._scan = end + 4
        if _CHUNKED in head:
            self._length = -1
            return True
        at = head.find(_CONTENT_LENGTH)
        if at < 0:
            raise BenchError(f"answer without content-length or chunked framing: {head[:200]!r}")
        stop = head.find(b"\r\n", at + 2)
        self._length = int(head[at + len(_CONTENT_LENGTH) : stop if stop >= 0 else len(head)])
        return True

    def _body_end(self, buffer: bytes) -> int:
        """Where the answer ends in ``buffer``, or -1 while it is incomplete."""
        if self._length >= 0:
            end = self._body_start + self._length
            return end if len(buffer) >= end else -1
        while True:
            line_end = buffer.find(b"\r\n", self._scan)
            if line_end < 0:
                return -1
            size = int(buffer[self._scan : line_end].split(b";", 1)[0], 16)
            end = line_end + 2 + size + 2  # the last chunk is followed by an empty trailer line
            if len(buffer) < end:
                return -1
            if size == 0:
                return end
            self._scan = end

    def _finish(self, now: float) -> None:
        samples = self._samples
        if self._status == 200:
            samples.latencies.append(now - self._sent_at)
            if self._track_first:
                samples.first_bytes.append((self._first_at or now) - self._sent_at)
        else:
            samples.errors += 1
        self._reset_framing()
        if now < self._deadline:
            self._send()
        elif self._done is not None and not self._done.done():
            self._done.set_result(now)


class Pool:
    """Keep-alive connections to one target, reused by every phase. Connections left idle longer
    than :data:`RECYCLE_IDLE_SECONDS` are replaced before the next run, so that a server's keep-alive
    timeout (uvicorn's is 5 s) never closes one under a request. ``answered`` counts every answer
    the pool has received over all its runs, errors included."""

    def __init__(self, host: str, port: int, connections: list[_Connection]) -> None:
        self._host, self._port = host, port
        self._connections = connections
        self._used_at = time.monotonic()
        self.answered = 0

    @classmethod
    async def open(cls, host: str, port: int, size: int) -> Pool:
        pool = cls(host, port, [])
        for _ in range(size):
            pool._connections.append(await pool._connect())
        return pool

    async def _connect(self) -> _Connection:
        _, protocol = await asyncio.get_running_loop().create_connection(_Connection, self._host, self._port)
        return protocol

    async def run(self, request: bytes, *, concurrency: int, seconds: float, track_first: bool = False) -> Samples:
        """Keep ``concurrency`` requests in flight for ``seconds``; answers other than 200 count as errors."""
        if concurrency > len(self._connections):
            raise ValueError(f"concurrency {concurrency} exceeds the pool's {len(self._connections)} connections")
        idle = time.monotonic() - self._used_at > RECYCLE_IDLE_SECONDS
        for i, connection in enumerate(self._connections):
            if idle or not connection.is_open:
                connection.close()
                self._connections[i] = await self._connect()
        samples = Samples()
        started = time.perf_counter()
        deadline = started + seconds
        futures = [
            c.begin(request, deadline, samples, track_first=track_first) for c in self._connections[:concurrency]
        ]
        try:
            ends = await asyncio.wait_for(asyncio.gather(*futures), timeout=seconds + 30)
        except TimeoutError:
            raise BenchError(f"no answer within {seconds + 30:.0f} s") from None
        samples.elapsed = max(ends) - started
        self._used_at = time.monotonic()
        self.answered += len(samples.latencies) + samples.errors
        return samples

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


async def fetch_status(host: str, port: int, request: bytes) -> int:
    """Send one request on a fresh connection; 200 if it was answered with 200, else 0."""
    pool = await Pool.open(host, port, 1)
    try:
        samples = await pool.run(request, concurrency=1, seconds=0.0)
    finally:
        pool.close()
    return 200 if samples.latencies else 0


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine (all CPUs), by each tracked process group, and
    by the main threads of its servers (a uvicorn gateway's event loop; its other threads and its
    journal-drain process write usage into SQLite)."""

    machine: float
    groups: tuple[float, ...]
    main_threads: tuple[float, ...]
    main_queued: tuple[float, ...]  # seconds the main threads were runnable but waiting for a CPU


def _schedstat(pid: int, tid: int | str) -> tuple[float, float]:
    """Seconds on a CPU, and runnable but waiting for one, of one thread."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            running, waiting = f.read().split()[:2]
    except (OSError, ValueError):  # the thread has gone
        return 0.0, 0.0
    return int(running) / 1e9, int(waiting) / 1e9


def _process(pid: str) -> tuple[int, float] | None:
    """The process group and the CPU seconds (user + system, all threads, exited ones included) of
    one process; ``None`` when it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: tuple[frozenset[int], ...]) -> CpuSnapshot:
    """Each group is a set of process ids; a process counts for a group when its own id or its
    process group id is in the set (the bench starts its servers in their own sessions, so a
    server's workers share its process group)."""
    with open("/proc/stat") as f:
        jiffies = [int(v) for v in f.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal: busy is everything but idle, iowait and steal.
    machine = (sum(jiffies) - jiffies[3] - jiffies[4] - jiffies[7]) / os.sysconf("SC_CLK_TCK")
    used, running, queued = [0.0] * len(groups), [0.0] * len(groups), [0.0] * len(groups)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        found = _process(entry.name)
        if found is None:
            continue
        pid, (pgrp, seconds) = int(entry.name), found
        for i, group in enumerate(groups):
            if pid in group or pgrp in group:
                used[i] += seconds
            if pid in group:  # the server's own main thread, not its journal-drain process's
                main = _schedstat(pid, pid)
                running[i] += main[0]
                queued[i] += main[1]
    return CpuSnapshot(machine, tuple(used), tuple(running), tuple(queued))
