"""Routing's state as gauges, read off the routing table when ``/metrics`` is scraped: queue depth,
each replica's health-check verdict and circuit state, each pool's pending requests and running
replicas, and the cold starts measured since the last scrape (the counters are kept as things happen)."""

from __future__ import annotations

from gateway.metrics import Metrics
from gateway.routing.table import RoutingTable


def publish_routing_state(table: RoutingTable, metrics: Metrics) -> None:
    for pool in table.pools.values():
        metrics.queue_changed(pool.name, pool.waiting())
        for replica in pool.replicas:
            metrics.replica_health(pool.name, replica.key, replica.healthy)
            metrics.circuit_changed(pool.name, replica.key, replica.breaker.state.value)
        in_flight = sum(replica.outstanding for replica in pool.replicas)
        wake = pool.wake
        if wake is None:
            metrics.pool_state(pool.name, in_flight + pool.waiting(), sum(r.healthy for r in pool.replicas))
            continue
        metrics.pool_state(pool.name, wake.pending(in_flight, pool.waiting()), wake.running())
        while wake.cold_starts:
            metrics.pool_cold_start(pool.name, wake.cold_starts.pop(0))
