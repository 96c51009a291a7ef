"""The measuring loop of the overhead benchmarks: every target in turn, round after round, so that all
of them see the same machine state on average; medians are taken over the rounds by the caller."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.load import Pool, summarize


async def alternate(
    pool: Pool,
    requests: dict[str, bytes],
    *,
    rounds: int,
    seconds: float,
    cpu_seconds: Callable[[], float] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per target and round: p50 and p99 at c=1 (ms), req/s at c=64 and, given the gateway's CPU clock,
    its CPU per request at c=64 (``cpu_us``)."""
    fields = ("p50", "p99", "rps64", "cpu_us") if cpu_seconds else ("p50", "p99", "rps64")
    results: dict[str, dict[str, list[float]]] = {name: {f: [] for f in fields} for name in requests}
    for _ in range(rounds):
        for name, request in requests.items():
            await pool.run(request, concurrency=1, seconds=0.3)  # settle before timing
            one = summarize(await pool.run(request, concurrency=1, seconds=seconds))
            cpu_before = cpu_seconds() if cpu_seconds else 0.0
            many = summarize(await pool.run(request, concurrency=64, seconds=seconds))
            if one.errors or many.errors:
                raise RuntimeError(f"{name}: {one.errors + many.errors} errors")
            results[name]["p50"].append(one.p50_ms)
            results[name]["p99"].append(one.p99_ms)
            results[name]["rps64"].append(many.rps)
            if cpu_seconds:
                results[name]["cpu_us"].append((cpu_seconds() - cpu_before) / many.requests * 1e6)
    return results
