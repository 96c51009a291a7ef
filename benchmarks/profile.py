"""``python -m benchmarks.profile``: where one gateway worker spends its CPU on the hot path.

It starts the zero-latency upstream and one gateway (uvicorn, one worker, as ``python -m benchmarks``
runs it, core or metered), warms it, then profiles the gateway process with :mod:`cProfile` through
one run of the chosen request (non-streaming chat, or an 8-event stream) at the chosen concurrency,
and prints the functions by own time and by cumulative time. The profiler slows everything it
watches about twofold, so read the shares, not the microseconds; the CPU per request printed beside
them is measured on a second, unprofiled run. A developer's tool, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.load import Pool, cpu_snapshot
from benchmarks.procs import HOST, child_env, free_port, issue_key, log, running, upstream_command, wait_ready
from benchmarks.results import PathKind
from benchmarks.run import _requests, write_config

_START, _STOP = signal.SIGUSR1, signal.SIGUSR2


class _Collections:
    """The garbage collector's passes and the time they took, by generation (cProfile charges a
    pass to whichever function allocated when it began)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count, self.seconds, self._began = [0, 0, 0], [0.0, 0.0, 0.0], 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        generation = info["generation"]
        self.count[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._began

    def report(self) -> None:
        pairs = enumerate(zip(self.count, self.seconds, strict=True))
        passes = ", ".join(f"gen{g}: {n} in {s * 1000:.1f} ms" for g, (n, s) in pairs)
        print(f"[gateway] garbage collections while profiled: {passes}", file=sys.stderr, flush=True)


def serve_profiled(port: int, output: Path | None) -> None:
    """The gateway under uvicorn in this process. SIGUSR1 opens a window, SIGUSR2 closes it and prints
    the garbage collector's passes in it; with ``output``, the window is profiled too, its
    statistics written there."""
    import uvicorn

    profiler, collections = cProfile.Profile(time.thread_time), _Collections()
    gc.callbacks.append(collections)

    def opened(*_: object) -> None:
        collections.reset()
        if output is not None:
            profiler.enable()

    def closed(*_: object) -> None:
        if output is not None:
            profiler.disable()
            profiler.dump_stats(output)
        collections.report()

    signal.signal(_START, opened)
    signal.signal(_STOP, closed)
    config = uvicorn.Config(
        "gateway.app:app_from_environment",
        factory=True,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run()


@contextlib.asynccontextmanager
async def upstream_and_config(
    workdir: Path, path: PathKind, adjust: Callable[[Path], None] | None = None
) -> AsyncIterator[tuple[Path, str | None]]:
    """The zero-latency upstream, running for the block, and a gateway config in front of it (changed by
    ``adjust``, if given): the config's path, and a customer key on the metered path."""
    upstream_port, env = free_port(), dict(os.environ)
    with running(upstream_command(upstream_port), child_env(env, None), workdir / "upstream.log") as upstream:
        await wait_ready(upstream, upstream_port, "/v1/models", workdir / "upstream.log")
        config = write_config(workdir, path, upstream_port, path)
        if adjust is not None:
            adjust(config)
        yield config, issue_key(config, child_env(env, None)) if path == "metered" else None


async def _profile(args: argparse.Namespace, workdir: Path) -> None:
    port, env = free_port(), dict(os.environ)
    async with upstream_and_config(workdir, args.path) as (config, key):
        stats = workdir / "gateway.prof"
        command = [sys.executable, "-m", "benchmarks.profile", "--serve", str(port)]
        command += [] if args.no_profile else ["--stats", str(stats)]
        with running(command, child_env(env, config), workdir / "gateway.log") as gateway:
            await wait_ready(gateway, port, "/healthz", workdir / "gateway.log")
            plain, streamed = _requests(port, key)
            request = streamed if args.stream else plain
            pool = await Pool.open(HOST, port, args.concurrency)
            try:
                await pool.run(request, concurrency=args.concurrency, seconds=1.0)
                if args.no_profile:
                    gateway.send_signal(_START)
                before = cpu_snapshot((frozenset({gateway.pid}),))
                measured = await pool.run(request, concurrency=args.concurrency, seconds=args.seconds)
                after = cpu_snapshot((frozenset({gateway.pid}),))
                if not args.no_profile:
                    gateway.send_signal(_START)
                    await pool.run(request, concurrency=args.concurrency, seconds=args.seconds)
                gateway.send_signal(_STOP)
                await asyncio.sleep(1.0)
            finally:
                pool.close()
            n = max(len(measured.latencies), 1)
            loop = after.main_threads[0] - before.main_threads[0]
            log(
                f"unprofiled: {len(measured.latencies)} requests ({measured.errors} errors), "
                f"{(after.groups[0] - before.groups[0]) * 1e6 / n:,.0f} µs gateway CPU/request, "
                f"{loop * 1e6 / n:,.0f} of it on the loop thread"
            )
        said = (workdir / "gateway.log").read_text(errors="replace").splitlines()
        print(*(line for line in said if line.startswith("[gateway]")), sep="\n", file=sys.stderr)
    if args.no_profile:
        return
    if args.save is not None:
        args.save.write_bytes(stats.read_bytes())
    report = pstats.Stats(str(stats))
    _by_package(report)
    report.sort_stats("tottime").print_stats(args.top)
    report.sort_stats("cumulative").print_stats(args.top)


def _by_package(report: pstats.Stats) -> None:
    """Own time summed by where the code lives: this project's packages, each library, the standard
    library, and built-ins (C functions, system calls included)."""
    totals: dict[str, float] = {}
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = report.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, own, _, _) in entries.items():
        totals[_package(filename)] = totals.get(_package(filename), 0.0) + own
    whole = sum(totals.values()) or 1.0
    print("own time by package:")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {name:<28} {seconds / whole:6.1%}")


def _package(filename: str) -> str:
    if filename.startswith("<") or filename == "~":
        return "built-ins"
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    root = Path(__file__).resolve().parents[1]
    if filename.startswith(str(root)):
        return "/".join(Path(filename).relative_to(root).parts[:2])
    return "standard library"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("core", "metered"), default="metered")
    parser.add_argument("--stream", action="store_true", help="the 8-event stream instead of a whole answer")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=45, help="functions listed per ordering")
    parser.add_argument("--no-profile", action="store_true", help="only the CPU per request, unprofiled")
    parser.add_argument("--save", type=Path, help="also keep the raw statistics there, for pstats")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the profiled gateway itself
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve_profiled(args.serve, args.stats)
        return 0
    with tempfile.TemporaryDirectory(prefix="tollgate-profile-") as tmp:
        import uvloop

        uvloop.run(_profile(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
