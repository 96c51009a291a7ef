"""The garbage collector, set for serving once the app is built.

Requests free almost everything they allocate by reference counting, yet CPython's default first
threshold (700 allocations net of frees) is crossed many times a second by requests in flight at
once, and every pass of the oldest generation walks every object the process holds: the web
framework, the ORM's mappings, the tokenizer, the config. Measured with ``python -m
benchmarks.profile``, a gateway at c=16 spent tens of microseconds per request in first-generation
passes and, every thousand or so requests, a few hundred milliseconds in one full pass. So, once
startup is over, what it built is moved out of the collector's sight (``gc.freeze``) and the first
threshold is raised: cycles made while serving are still collected, in fewer, no slower passes.
"""

from __future__ import annotations

import gc

SERVING_THRESHOLDS = (10_000, 10, 10)  # the first raised from CPython's 700; the others as CPython's


def settle_for_serving() -> tuple[int, int, int]:
    """Collect what startup left, freeze the rest, raise the first threshold; return the thresholds
    it replaced, for :func:`restore`."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    return previous


def restore(thresholds: tuple[int, int, int]) -> None:
    """Undo :func:`settle_for_serving` as the app stops (tests start many apps in one process)."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)
