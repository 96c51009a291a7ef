"""Every request's metrics, added up in plain numbers and handed to prometheus-client in bulk.

prometheus-client takes a lock and makes several calls for each count and each observation: about
6 µs of the loop's CPU for the counters and histograms of one request, more than the router's own
work on it (docs/bench-hot-path.md). A request here adds its numbers to its series' :class:`Tally`,
with no call into the library, and a flush hands over what has built up since the last one: one
call per counter and per histogram bucket that moved. The observer flushes before every scrape, so a
scrape sees every request answered before it; with several workers, whose scrapes read each other's
files, it flushes each request as it is counted.
"""

from __future__ import annotations

import bisect

from prometheus_client import Counter, Histogram


class Distribution:
    """Observations of one histogram (or labelled child) not yet handed over: a count per bucket, and their sum."""

    __slots__ = ("_bounds", "_histogram", "_pending", "counts", "total")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._bounds: list[float] = histogram._upper_bounds  # the buckets' upper bounds, +Inf last
        self.counts = [0] * len(self._bounds)
        self.total = 0.0
        self._pending = False

    def observe(self, value: float) -> None:
        """Counted as ``Histogram.observe`` counts it: in the first bucket whose bound is at least ``value``."""
        self.counts[bisect.bisect_left(self._bounds, value)] += 1
        self.total += value
        self._pending = True

    def flush(self) -> None:
        """prometheus-client has no bulk observe: its buckets (each the count of observations that fell
        in it, summed into cumulative ones when scraped) and its sum take the counts directly
        (tests/unit/test_tally.py holds this to what ``observe`` would have written)."""
        if not self._pending:
            return
        buckets = self._histogram._buckets
        counts = self.counts
        for i, count in enumerate(counts):
            if count:
                buckets[i].inc(count)
                counts[i] = 0
        self._histogram._sum.inc(self.total)
        self.total, self._pending = 0.0, False


class Tally:
    """One request series (model, deployment, status): requests, their tokens and cost, and their
    latency distributions, pending."""

    __slots__ = (
        "_cost",
        "_requests",
        "_tokens_in",
        "_tokens_out",
        "cost_micros",
        "requests",
        "seconds",
        "tokens_in",
        "tokens_out",
        "ttft",
    )

    def __init__(
        self, requests: Counter, seconds: Histogram, ttft: Histogram, tokens: tuple[Counter, Counter], cost: Counter
    ) -> None:
        self._requests, (self._tokens_in, self._tokens_out), self._cost = requests, tokens, cost
        self.seconds, self.ttft = Distribution(seconds), Distribution(ttft)
        self.requests = self.tokens_in = self.tokens_out = self.cost_micros = 0

    def flush(self) -> None:
        self._requests.inc(self.requests)
        if self.tokens_in:
            self._tokens_in.inc(self.tokens_in)
        if self.tokens_out:
            self._tokens_out.inc(self.tokens_out)
        if self.cost_micros:
            self._cost.inc(self.cost_micros / 1_000_000)
        self.requests = self.tokens_in = self.tokens_out = self.cost_micros = 0
        self.seconds.flush()
        self.ttft.flush()
