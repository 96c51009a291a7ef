"""The ``batches`` block of the config: how the batch lane shares the pools with interactive traffic."""

from __future__ import annotations

from typing import Annotated

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0)]

# OpenAI's limits on a batch input file: 200 MB and 50,000 requests.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_LINES = 50_000


class BatchSettings(msgspec.Struct, forbid_unknown_fields=True):
    """``max_concurrency`` lines run at once per gateway process; a line starts on a pool with a bound
    (``max_outstanding``) only while its replicas' requests in flight leave ``interactive_share`` of
    their room free (an idle pool always takes one). Lines wait in pools' queues at ``priority``,
    behind every interactive request (lower goes first)."""

    enabled: bool = True
    max_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 4
    interactive_share: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    priority: int = 1_000_000
    # How often a worker looks for lines to run and batches to finish (a local create wakes it at once).
    poll_seconds: Seconds = 1.0
    # A claimed line is this worker's for this long, renewed while it runs; a dead worker's lines are
    # claimed again once it lapses.
    lease_seconds: Seconds = 30.0
    # A line refused upstream for lack of room (429, 503 overloaded, 502/504) is tried this many times
    # in all before it fails; one refused by its key's own limits (429 before it was sent) waits for
    # them up to limit_wait_seconds. Retries wait Retry-After, else retry_seconds times the failures.
    max_attempts: Annotated[int, msgspec.Meta(ge=1)] = 5
    retry_seconds: Seconds = 1.0
    limit_wait_seconds: Seconds = 600.0
    # On shutdown, how long the lines running here get to finish before they are handed back.
    shutdown_wait_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    max_file_bytes: Annotated[int, msgspec.Meta(ge=1, le=MAX_FILE_BYTES)] = MAX_FILE_BYTES
