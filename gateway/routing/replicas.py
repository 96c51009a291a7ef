"""The live state of one replica: requests in flight, measured latency, health and circuit breaker."""

from __future__ import annotations

import enum

from backends.base import Backend
from backends.vllm import EngineLoad
from gateway.config.routing import BreakerSettings
from gateway.routing.strategies import ReplicaView, stable_hash

EWMA_WEIGHT = 0.3  # of the newest measurement
IDLE = EngineLoad()


class Circuit(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """Opens after ``failures`` failures in a row; after ``cooldown`` it lets one probe request
    through (half-open): its success closes the circuit, its failure opens it for another cooldown."""

    def __init__(self, settings: BreakerSettings) -> None:
        self._settings = settings
        self.state = Circuit.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def available(self, now: float) -> bool:
        if self.state is Circuit.CLOSED:
            return True
        if self.state is Circuit.OPEN:
            return now - self._opened_at >= self._settings.cooldown
        return not self._probing

    def begin(self, now: float) -> None:
        """A request was sent through; past the cooldown it is the half-open probe."""
        if self.state is not Circuit.CLOSED and self.available(now):
            self.state = Circuit.HALF_OPEN
            self._probing = True

    def succeeded(self) -> None:
        self.state = Circuit.CLOSED
        self.failures = 0
        self._probing = False

    def follow(self, circuit: Circuit, now: float) -> None:
        """Another gateway's breaker for this replica opened (a cooldown starts here too) or closed."""
        if circuit is Circuit.OPEN:
            self.state, self._opened_at, self._probing = Circuit.OPEN, now, False
        else:
            self.succeeded()

    def failed(self, now: float) -> bool:
        """Count a failure; True when it opened the circuit."""
        self.failures += 1
        self._probing = False
        if self.state is Circuit.HALF_OPEN or (
            self.state is Circuit.CLOSED and self.failures >= self._settings.failures
        ):
            self.state = Circuit.OPEN
            self._opened_at = now
            return True
        return False


class Replica:
    def __init__(self, key: str, backend: Backend, breaker: BreakerSettings) -> None:
        self.key = key
        self.key_hash = stable_hash(key)
        self.backend = backend
        self.breaker = Breaker(breaker)
        self.outstanding = 0
        self.served = 0  # requests sent to it since it joined the table
        self.latency = 0.0
        self.healthy = True  # the last active check's verdict
        self.load: EngineLoad | None = None

    def eligible(self, now: float) -> bool:
        return self.healthy and self.breaker.available(now)

    def view(self, max_outstanding: int | None) -> ReplicaView:
        load = self.load or IDLE
        full = max_outstanding is not None and self.outstanding >= max_outstanding
        return ReplicaView(
            key=self.key,
            outstanding=self.outstanding,
            latency=self.latency,
            waiting=load.waiting,
            running=load.running,
            kv_cache_usage=load.kv_cache_usage,
            saturated=full or load.waiting > 0,
            key_hash=self.key_hash,
        )

    def begin(self, now: float) -> None:
        self.outstanding += 1
        self.served += 1
        self.breaker.begin(now)

    def end(self, *, healthy: bool, seconds: float, now: float) -> Circuit | None:
        """Account for a finished request; the circuit's new state when it opened or closed."""
        self.outstanding -= 1
        if not healthy:
            return Circuit.OPEN if self.breaker.failed(now) else None
        was = self.breaker.state
        self.breaker.succeeded()
        self.latency = seconds if self.latency == 0 else EWMA_WEIGHT * seconds + (1 - EWMA_WEIGHT) * self.latency
        return Circuit.CLOSED if was is not Circuit.CLOSED else None
