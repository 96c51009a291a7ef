"""``python -m benchmarks.instructions``: instructions per request on the gateway's event-loop thread.

CPU time per request drifts by a third on a shared machine from one run to the next, which hides a
change of a few per cent. Instructions do not drift: valgrind's callgrind counts them, the same for
the same code and requests whatever else the machine is doing (two runs here agree within about
1 %). This runs one gateway worker (uvicorn, uvloop, as ``python -m benchmarks`` does) under
callgrind with counting off, warms it, then counts one idle window and one loaded window of the same
length, and prints the loaded window's instructions on the main thread less the idle one's, per
request answered in it. The config polls keys, prices, credits and batches hourly instead of every
second, so that background work is small beside the requests (valgrind slows the requests fiftyfold,
not the timers). Compare two trees by running it from each (``PYTHONPATH`` pointing at the other).
A developer's tool: it needs valgrind, and measures code paths, not speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from benchmarks.load import Pool
from benchmarks.procs import HOST, child_env, free_port, log, running, wait_ready
from benchmarks.profile import upstream_and_config
from benchmarks.run import _requests

QUIET = {"key_poll_seconds": 3600, "price_poll_seconds": 3600, "credit_poll_seconds": 3600}
QUIET_ROUTING = {"health_interval": 3600, "metrics_interval": 3600, "rollout_interval": 3600}


def _quiet(config: Path) -> None:
    settings = yaml.safe_load(config.read_text())
    settings |= {**QUIET, "batches": {"poll_seconds": 3600}}
    settings["routing"] = {**settings.get("routing", {}), **QUIET_ROUTING}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))


class _Counts:
    """The dumps callgrind writes (one file per thread per dump): each read once, main thread's totals."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._seen: set[Path] = set()

    def main_thread(self) -> int:
        total = 0
        for dump in sorted(self._folder.glob("callgrind.out*")):
            if dump in self._seen:
                continue
            self._seen.add(dump)
            text = dump.read_text(errors="replace")
            thread = re.search(r"^thread:\s+(\d+)", text, re.M)
            counted = re.search(r"^totals:\s+(\d+)", text, re.M)
            if thread is not None and thread.group(1) == "1" and counted is not None:
                total += int(counted.group(1))
        return total


async def _measure(args: argparse.Namespace, workdir: Path) -> None:
    port = free_port()
    async with upstream_and_config(workdir, args.path, _quiet) as (config, key):
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
        command += [f"--callgrind-out-file={workdir}/callgrind.out", sys.executable, "-m", "benchmarks.profile"]
        command += ["--serve", str(port)]
        with running(command, child_env(dict(os.environ), config), workdir / "gateway.log") as gateway:
            await wait_ready(gateway, port, "/healthz", workdir / "gateway.log", within=300)
            plain, streamed = _requests(port, key)
            request = streamed if args.stream else plain
            counts = _Counts(workdir)

            def callgrind(*flags: str) -> None:
                subprocess.run(["callgrind_control", *flags, str(gateway.pid)], check=True, capture_output=True)

            pool = await Pool.open(HOST, port, args.concurrency)
            try:
                await pool.run(request, concurrency=args.concurrency, seconds=3.0)
                callgrind("--instr=on")
                await asyncio.sleep(args.seconds)
                callgrind("--instr=off")
                callgrind("--dump")
                await asyncio.sleep(1.0)  # the dump is written after the control command returns
                idle = counts.main_thread()
                callgrind("--instr=on")
                measured = await pool.run(request, concurrency=args.concurrency, seconds=args.seconds)
                callgrind("--instr=off")
                callgrind("--dump")
                await asyncio.sleep(1.0)
                busy = counts.main_thread()
            finally:
                pool.close()
    answered = len(measured.latencies)
    what = "8-event stream" if args.stream else "request"
    log(f"{args.path}, c={args.concurrency}: {answered} answered ({measured.errors} errors) in {args.seconds:.0f} s")
    per_answer = (busy - idle) / max(answered, 1) / 1000
    print(f"{per_answer:,.1f} kIr per {what} on the loop thread (idle window: {idle / 1e6:.1f} MIr)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("core", "metered"), default="metered")
    parser.add_argument("--stream", action="store_true", help="the 8-event stream instead of a whole answer")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=12.0, help="each counted window (idle, then loaded)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tollgate-instructions-") as tmp:
        import uvloop

        uvloop.run(_measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
