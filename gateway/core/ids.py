"""Request ids that are unique across processes and restarts, without a system call each."""

from __future__ import annotations

import itertools
import secrets


class RequestIds:
    """``req_`` + 12 random hex digits drawn once per process + a counter."""

    def __init__(self) -> None:
        self._prefix = f"req_{secrets.token_hex(6)}"
        self._counter = itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):010x}"
