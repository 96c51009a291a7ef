"""Where admission's time goes, part by part: the Python of one reservation and its settlement (against
a pipe that answers at once), then the real round trips on an otherwise idle event loop: a bare PING,
a reservation and a settlement through ``RedisStore``, and what Redis says its scripts cost. Run:
``python -m tests.perf.admission_parts`` (Redis on 127.0.0.1:6379; its command statistics are reset).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import uvloop

from gateway.admission.redis_store import RedisStore
from gateway.admission.rules import Ask
from gateway.admission.service import Admission, plan_for
from gateway.admission.store import budget_key
from gateway.core.redis_pipe import RedisPipe, Script
from gateway.keys.principal import Principal
from gateway.metrics import Metrics
from gateway.tokens import Tokenizer
from tests.perf.reporting import heading, report_main

URL = "redis://127.0.0.1:6379/0"
CALLS = 5000
PRINCIPAL = Principal(
    1, "hash", 2, "co", rpm=10**7, tpm=10**9, max_concurrency=10**5, budget_micros=10**12, budget_period="month"
)
# An admitted reservation's reply: rate views for requests and tokens, no budget warning.
ADMITTED = [1, b"", -1, 0, 10**7, 10**7 - 1, 6, 10**9, 10**9 - 52, 3, 0]


class _Answering:
    """Stands in for the pipe: answers every script at once, so only admission's own Python is timed."""

    async def run(self, script: Script, keys: list[str], args: list[Any], *, hold: bool = False) -> Any:
        return 1 if hold else ADMITTED


async def _never_seeded(*_: Any) -> Any:
    raise AssertionError("the budget is seeded before timing")


def _admission(store: Any) -> Admission:
    return Admission(store, Metrics(), seed_budget=_never_seeded, seed_credit=_never_seeded, fail_open=False)


async def _timed(step: Callable[[int], Awaitable[Any]]) -> list[float]:
    took = []
    for i in range(CALLS):
        started = time.perf_counter()
        await step(i)
        took.append(time.perf_counter() - started)
    return took


def _us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:.1f}"


async def measure() -> dict[str, str]:
    plan = plan_for(PRINCIPAL)
    assert plan is not None
    python = _admission(RedisStore(cast(RedisPipe, _Answering()), "unused"))

    async def admit_and_settle(i: int) -> None:
        ticket = await python.admit(plan_for(PRINCIPAL) or plan, f"req-{i}", 52, 1000)  # the plan, as per request
        python.settle(ticket, 40, 800, failed=False)
        await asyncio.sleep(0)  # the settlement runs

    async def nothing(_: int) -> None:
        await asyncio.sleep(0)

    tokenizer, messages = Tokenizer(), [{"role": "user", "content": "Say hello in five words."}]

    async def estimate(_: int) -> None:
        tokenizer.count_chat(messages)

    loop_turn = statistics.median(await _timed(nothing))
    results = {
        "python": f"{(statistics.median(await _timed(admit_and_settle)) - loop_turn) * 1e6:.1f}",
        "estimate": _us(await _timed(estimate)),
    }
    pipe, namespace = RedisPipe(URL), f"tollgate-parts-{uuid.uuid4().hex[:8]}"
    store = RedisStore(pipe, namespace)
    try:
        await pipe.call("PING")
        await store.seed_budget(budget_key(plan.scopes[0], int(time.time() * 1000)), 0, 3_600_000)
        results["ping"] = _us(await _timed(lambda _: pipe.call("PING")))
        await pipe.call("CONFIG", "RESETSTAT")
        asks = [Ask(f"req-{i}", 52, 1000, int(time.time() * 1000)) for i in range(CALLS)]
        results["reserve"] = _us(await _timed(lambda i: store.reserve(plan.scopes, None, asks[i])))
        results["settle"] = _us(await _timed(lambda i: store.settle(plan.scopes, None, asks[i], 40, 800, failed=False)))
        stats = (await pipe.call("INFO", "commandstats")).decode()
        line = next(line for line in stats.splitlines() if line.startswith("cmdstat_evalsha:"))
        results["script"] = dict(item.split("=") for item in line.partition(":")[2].split(","))["usec_per_call"]
        await pipe.call("DEL", *await pipe.call("KEYS", f"{namespace}:*"))
    finally:
        await pipe.aclose()
    return results


def report(results: dict[str, str], command: str) -> str:
    lines = [
        *heading("Admission, part by part", command, f"Redis 7 on loopback; {CALLS:,} calls each, one at a time"),
        "",
        "| part | µs, median |",
        "|---|---:|",
        "| admission's Python for one request (plan, reservation, rate headers, settlement),"
        f" with a pipe that answers at once | {results['python']} |",
        f"| the token estimate of a short chat prompt (tiktoken), for the reservation | {results['estimate']} |",
        f"| a bare `PING` round trip on an idle event loop | {results['ping']} |",
        f"| a reservation (`RedisStore.reserve`) on an idle event loop | {results['reserve']} |",
        f"| a settlement alone (`RedisStore.settle`), same | {results['settle']} |",
        f"| one script inside Redis (reservations and settlements, `INFO commandstats`) | {results['script']} |",
        "",
    ]
    return "\n".join(lines)


def measured(command: str) -> str:
    return report(uvloop.run(measure()), command)


def main() -> None:
    report_main("tests.perf.admission_parts", __doc__, measured)


if __name__ == "__main__":
    main()
