"""Who cut a request short: its client, or the gateway.

A request's work is cancelled when its client disconnects (the edge watches ``receive()`` and
cancels it) or when the server's shutdown grace runs out (the server cancels every request left).
Its usage is recorded where the work stops, deep below the edge, so the edge says here, for the
request being answered, whether its client left; the record then tells a client's departure (499,
billed what was used) from the gateway's (503 at no cost: the customer got an error, not an answer).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Protocol


class Watch(Protocol):
    @property
    def left(self) -> bool:
        """Whether the client disconnected."""
        ...


_watch: ContextVar[Watch | None] = ContextVar("tollgate_client_watch", default=None)


def watching(watch: Watch) -> Token[Watch | None]:
    """The edge watches the current request's client (reset with the token when it stops)."""
    return _watch.set(watch)


def stop_watching(token: Token[Watch | None]) -> None:
    _watch.reset(token)


def client_left() -> bool:
    """Whether the request being answered was cut short by its client. Where no edge watches (a
    request run from inside the gateway), a cancellation is taken as its caller's, as before."""
    watch = _watch.get()
    return watch is None or watch.left
