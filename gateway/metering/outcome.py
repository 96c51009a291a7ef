"""How a metered request ended: the ``outcome`` of its usage record, and which outcomes are billed.

A ``StrEnum``, so a record's outcome is journaled and stored as the same plain string it always
was (``"ok"``, ``"client_disconnect"``...). Records store it as ``str``: a journal or a table may
hold an outcome no member names (written by an earlier version), and such a record is an error.
"""

from __future__ import annotations

import enum

from gateway.core.departure import client_left


class Outcome(enum.StrEnum):
    OK = "ok"  # answered in full
    CLIENT_DISCONNECT = "client_disconnect"  # the client left (status 499): what was used is billed
    UPSTREAM_ERROR = "upstream_error"  # no deployment answered: recorded at no cost
    INVALID_REQUEST = "invalid_request"  # refused before it was sent (media checks): at no cost
    GATEWAY_ERROR = "gateway_error"  # the gateway cut it (shutdown's grace ran out, 503): at no cost


CLIENT_CLOSED = 499  # nginx's status for a request the client abandoned
SHUT_DOWN = 503  # the status a request cut by the gateway's shutdown is answered with


def cut_short() -> tuple[Outcome, int]:
    """How a request whose work was cancelled before its end is recorded, with its status: its client
    left (billed what was used), or the gateway's shutdown cut it (answered 503: at no cost)."""
    return (Outcome.CLIENT_DISCONNECT, CLIENT_CLOSED) if client_left() else (Outcome.GATEWAY_ERROR, SHUT_DOWN)


# The outcomes whose usage is priced and charged, and whose reservation settles with what was used.
BILLED: frozenset[str] = frozenset({Outcome.OK, Outcome.CLIENT_DISCONNECT})


def is_error(outcome: str) -> bool:
    """Whether the dashboard and the rollups count the outcome as an error: every outcome not billed,
    including one no member names."""
    return outcome not in BILLED
