"""Latency histograms with log-spaced buckets, so hourly rollups can answer percentiles.

Percentiles do not add up across hours, but bucket counts do: each hour keeps how many requests
fell in each bucket, and a p50 or p99 over any range is read from the summed counts. Buckets are a
quarter of a binary order of magnitude wide (factor 2^(1/4) ≈ 1.19), so an estimate is within
±9% of the true value, from 1 ms up to about a day; faster requests count in bucket 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PER_DOUBLING = 4
BUCKETS = 4 * 27  # 2^27 ms ≈ 37 hours


def bucket_of(milliseconds: float) -> int:
    if milliseconds <= 1.0:
        return 0
    return min(BUCKETS - 1, math.floor(PER_DOUBLING * math.log2(milliseconds)))


def bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket, in milliseconds."""
    return float(2 ** ((bucket + 0.5) / PER_DOUBLING))


def percentile(counts: Mapping[int, int], fraction: float) -> float | None:
    """The value below which ``fraction`` of the counted requests fall; None when nothing was counted."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")
