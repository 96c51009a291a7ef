"""Routing and resilience: which deployment and replica serve a request, and what happens when one fails.

Strategies are pure functions over a snapshot of replica state (:mod:`.strategies`); the mutable
state, breakers, queues and rollout statistics live in a :class:`~.table.RoutingTable` that a config
reload replaces atomically; :mod:`.router` runs one request through it with retries and fallbacks.
"""
