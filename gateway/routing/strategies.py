"""Replica choice: pure functions over a snapshot of the replicas that may serve a request.

Each takes the eligible replicas (circuit closed or probing, not yet tried for this request) and
returns the index of the chosen one in that sequence. ``turn`` is a counter that breaks ties
round-robin, so that equal replicas share the traffic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import msgspec

from backends.vllm import Strategy


class ReplicaView(msgspec.Struct, frozen=True):
    """One replica as a strategy sees it."""

    key: str  # stable identity (its URL)
    outstanding: int  # requests in flight from this gateway
    latency: float  # EWMA of recent answer times in seconds; 0 when none measured yet
    waiting: float = 0.0  # scraped from vLLM: requests queued in the engine
    running: float = 0.0
    kv_cache_usage: float = 0.0
    saturated: bool = False  # at the pool's max_outstanding, or queueing inside the engine
    key_hash: int = 0  # stable_hash(key), computed once per replica: what affinity mixes with the request's


class Choice(msgspec.Struct, frozen=True):
    """What a strategy may use about the request: its affinity key and two random draws."""

    turn: int
    affinity: str | None = None
    draws: tuple[int, int] = (0, 1)


def round_robin(views: Sequence[ReplicaView], choice: Choice) -> int:
    return choice.turn % len(views)


def least_outstanding(views: Sequence[ReplicaView], choice: Choice) -> int:
    """The replica with the fewest requests in flight; ties go round-robin from ``turn``."""
    return _lowest(views, choice.turn, lambda v: (v.outstanding,))


def latency(views: Sequence[ReplicaView], choice: Choice) -> int:
    """Power of two choices: of two replicas drawn at random, the one whose EWMA latency times its
    queue (in flight + 1) is lower. A replica with no measurement yet costs 0, so it gets measured."""
    count = len(views)
    first, second = choice.draws[0] % count, choice.draws[1] % count
    if first == second:
        second = (first + 1) % count
    cost = [views[i].latency * (views[i].outstanding + 1) for i in (first, second)]
    return first if cost[0] <= cost[1] else second


def affinity(views: Sequence[ReplicaView], choice: Choice) -> int:
    """Rendezvous hashing of the affinity key: the same conversation prefix (or session) lands on the
    same replica while the set of replicas is unchanged, and only 1/N of the keys move when one is
    added or removed. A saturated owner spills over to the next replica in the key's own order;
    when all are saturated, the least loaded one serves. Without a key: least outstanding."""
    if choice.affinity is None:
        return least_outstanding(views, choice)
    request = stable_hash(choice.affinity)
    scores = [_mix(request, view.key_hash) for view in views]
    best = max(range(len(views)), key=scores.__getitem__)
    if not views[best].saturated:
        return best
    for index in sorted(range(len(views)), key=scores.__getitem__, reverse=True):
        if not views[index].saturated:
            return index
    return least_outstanding(views, choice)


def load_aware(views: Sequence[ReplicaView], choice: Choice) -> int:
    """By vLLM's own gauges: fewest requests waiting in the engine, then fewest in flight from here
    (which moves between scrapes), then the least KV cache in use."""
    return _lowest(views, choice.turn, lambda v: (v.waiting, v.outstanding, v.kv_cache_usage))


STRATEGIES = {
    "round_robin": round_robin,
    "least_outstanding": least_outstanding,
    "latency": latency,
    "affinity": affinity,
    "load_aware": load_aware,
}


def pick(strategy: Strategy, views: Sequence[ReplicaView], choice: Choice) -> int:
    return STRATEGIES[strategy](views, choice)


def _lowest(views: Sequence[ReplicaView], start: int, rank: Callable[[ReplicaView], tuple[float, ...]]) -> int:
    count = len(views)
    best = start % count
    best_rank = rank(views[best])
    for step in range(1, count):
        index = (start + step) % count
        current = rank(views[index])
        if current < best_rank:
            best, best_rank = index, current
    return best


def stable_hash(text: str) -> int:
    """The same 64 bits in every gateway process (unlike ``hash``), so replicas of the gateway agree."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


def _mix(request: int, replica: int) -> int:
    """A replica's rendezvous score for a request: splitmix64's finaliser over both hashes."""
    x = ((request ^ replica) * 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


_MASK = (1 << 64) - 1
