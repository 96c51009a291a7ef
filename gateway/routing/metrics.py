"""Routing's state as gauges, read off the routing table when ``/metrics`` is scraped: queue depth,
and each replica's health-check verdict and circuit state (the counters are kept as things happen)."""

from __future__ import annotations

from gateway.metrics import Metrics
from gateway.routing.table import RoutingTable


def publish_routing_state(table: RoutingTable, metrics: Metrics) -> None:
    for pool in table.pools.values():
        metrics.queue_changed(pool.name, pool.waiting())
        for replica in pool.replicas:
            metrics.replica_health(pool.name, replica.key, replica.healthy)
            metrics.circuit_changed(pool.name, replica.key, replica.breaker.state.value)
