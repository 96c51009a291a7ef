"""Replica choice: each strategy as a pure function over a snapshot of the replicas."""

from __future__ import annotations

from gateway.routing.strategies import (
    Choice,
    ReplicaView,
    affinity,
    latency,
    least_outstanding,
    load_aware,
    stable_hash,
)


def views(*outstanding: int, **extra: list[float]) -> list[ReplicaView]:
    return [
        ReplicaView(
            key=f"http://r{i}",
            outstanding=n,
            latency=extra.get("latency", [0.0] * len(outstanding))[i],
            waiting=extra.get("waiting", [0.0] * len(outstanding))[i],
            saturated=bool(extra.get("saturated", [0.0] * len(outstanding))[i]),
            key_hash=stable_hash(f"http://r{i}"),
        )
        for i, n in enumerate(outstanding)
    ]


def test_least_outstanding_picks_the_least_loaded_and_rotates_ties() -> None:
    assert least_outstanding(views(3, 1, 2), Choice(turn=0)) == 1
    assert [least_outstanding(views(0, 0, 0), Choice(turn=t)) for t in range(4)] == [0, 1, 2, 0]
    assert least_outstanding(views(1, 0, 0), Choice(turn=2)) == 2


def test_affinity_keeps_a_conversation_on_one_replica_and_spreads_conversations() -> None:
    pool = views(0, 0, 0, 0)
    homes = {affinity(pool, Choice(turn=t, affinity=f"conversation-{n}")) for n in range(40) for t in range(3)}
    assert len(homes) == 4  # conversations spread over every replica
    for n in range(40):  # whatever the turn, a conversation goes home
        assert len({affinity(pool, Choice(turn=t, affinity=f"conversation-{n}")) for t in range(5)}) == 1


def test_affinity_moves_only_the_keys_of_a_removed_replica() -> None:
    pool = views(0, 0, 0, 0)
    before = {n: pool[affinity(pool, Choice(0, f"c{n}"))].key for n in range(200)}
    smaller = pool[:3]
    after = {n: smaller[affinity(smaller, Choice(0, f"c{n}"))].key for n in range(200)}
    moved = [n for n in before if before[n] != after[n]]
    assert moved and all(before[n] == "http://r3" for n in moved)


def test_affinity_spills_over_from_a_saturated_replica() -> None:
    home = affinity(views(0, 0, 0), Choice(0, "chat"))
    busy = views(0, 0, 0, saturated=[1.0 if i == home else 0.0 for i in range(3)])
    spilled = affinity(busy, Choice(0, "chat"))
    assert spilled != home
    # the spill-over target is the key's own second choice, the same every time
    assert {affinity(busy, Choice(t, "chat")) for t in range(5)} == {spilled}
    # every replica saturated: the least loaded one serves
    full = [
        ReplicaView(f"http://r{i}", n, 0.0, saturated=True, key_hash=stable_hash(f"http://r{i}"))
        for i, n in enumerate((4, 2, 3))
    ]
    assert affinity(full, Choice(0, "chat")) == 1


def test_load_aware_follows_the_engines_waiting_queue() -> None:
    assert load_aware(views(0, 0, waiting=[3.0, 0.0]), Choice(turn=0)) == 1
    assert load_aware(views(0, 0, waiting=[0.0, 2.0]), Choice(turn=1)) == 0
    # equal engine queues: fewest in flight from here
    assert load_aware(views(2, 1, waiting=[1.0, 1.0]), Choice(turn=0)) == 1


def test_latency_prefers_the_faster_of_two_and_measures_unknown_ones() -> None:
    pool = views(0, 0, latency=[0.5, 0.05])
    assert latency(pool, Choice(turn=0, draws=(0, 1))) == 1
    assert latency(views(0, 0, latency=[0.5, 0.0]), Choice(turn=0, draws=(0, 1))) == 1
    # a fast replica with a long queue loses to a slower idle one
    assert latency(views(0, 20, latency=[0.2, 0.05]), Choice(turn=0, draws=(1, 0))) == 0
