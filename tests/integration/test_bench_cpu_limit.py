"""The scale-out bench's per-gateway CPU limit (``--cpu-per-gateway``) really caps a process and its
children, as a pod's CPU limit does."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import time

import pytest

from benchmarks.load import BenchError
from benchmarks.scale_stack import cpu_limit, inside

SPIN = "import time\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end: pass\n"
# A parent that spins and starts a child that spins too: both count against the same limit.
FAMILY = f"import subprocess, sys\nchild = subprocess.Popen([sys.executable, '-c', {SPIN!r}])\n{SPIN}child.wait()\n"


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_limited_process_and_its_children_share_the_quota() -> None:
    with contextlib.ExitStack() as stack:
        try:
            group = stack.enter_context(cpu_limit(f"tollgate-test-{time.time_ns()}", 0.25))
        except (BenchError, OSError) as exc:
            pytest.skip(f"no cgroup CPU control here: {exc}")
        before, started = children_cpu_seconds(), time.monotonic()
        subprocess.run(inside(group, [sys.executable, "-c", FAMILY]), check=True, timeout=30)
        used, took = children_cpu_seconds() - before, time.monotonic() - started
    assert took >= 1.5
    # Unlimited, parent and child would use about 3 CPU seconds in their 1.5 s (2 cores); capped at
    # 0.25 CPU, about 0.4 s plus the interpreters' start-up.
    assert used < 0.9, used
