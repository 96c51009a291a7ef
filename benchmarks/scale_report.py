"""The scale-out benchmark's results, their exactness verdicts (usage rows, metrics, the rate limit
and the response cache against what the clients got) and their Markdown report
(``docs/bench-scale-out.md``)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

from benchmarks.load import Summary
from benchmarks.report import revision

PARTS = ("gateways", "haproxy", "upstream", "redis", "postgres", "load generator")


@dataclass(slots=True)
class Costs:
    wall: float
    machine_busy: float  # share of all CPUs busy, whoever used them
    others_busy: float  # the share used by processes outside the bench (other work on the machine)
    cpu_seconds: dict[str, float]  # by part, over the timed run
    redis_commands: int
    redis_scripts: int
    pg_transactions: int
    pg_rows: int
    rss_per_gateway: int = 0


@dataclass(slots=True)
class CacheCheck:
    """One request with a prompt new to this count, then ``sent`` more of it spread over the gateways."""

    sent: int
    first: str | None  # the first request's x-tollgate-cache: a miss, stored in the shared Redis
    hits: int  # the others answered with x-tollgate-cache: hit
    ok: int  # 200s among all 1 + sent
    rows: list[tuple[str, int, int]]  # their usage rows: (cache_status, cost_micros, saved_micros)
    hits_by_gateway: list[int]  # tollgate_cache_lookups_total{result="hit"} of each gateway

    def _rows(self, status: str) -> list[tuple[str, int, int]]:
        return [row for row in self.rows if row[0] == status]

    @property
    def priced(self) -> int:
        """Hit rows that saved something and, with what they cost, add up to the miss's full price."""
        misses = self._rows("miss")
        full = misses[0][1] if len(misses) == 1 else None
        return sum(1 for _, cost, saved in self._rows("hit") if saved > 0 and cost + saved == full)

    @property
    def serving(self) -> int:
        return sum(1 for hits in self.hits_by_gateway if hits > 0)

    @property
    def rows_agree(self) -> bool:
        """One usage row per 200: the miss, and the hits, each priced."""
        return len(self.rows) == self.ok and len(self._rows("miss")) == 1 and len(self._rows("hit")) == self.priced

    @property
    def exact(self) -> bool:
        return (
            self.first == "miss"
            and self.hits == self.sent
            and self.ok == self.sent + 1
            and self.rows_agree
            and sum(self.hits_by_gateway) == self.sent
            and self.serving == len(self.hits_by_gateway)
        )

    def cell(self) -> str:
        """``miss / 8 of 8 (2 of 2)``: the first request, the hits of the others, the gateways that served hits."""
        text = f"{self.first} / {self.hits} of {self.sent} ({self.serving} of {len(self.hits_by_gateway)})"
        if not self.rows_agree:
            text += f"; rows {len(self._rows('miss'))} miss + {len(self._rows('hit'))} hit, {self.priced} priced"
        return text


@dataclass(slots=True)
class Exactness:
    limit: int
    burst: int
    burst_ok: int
    burst_limited: int
    rows: int  # usage rows this count added
    metered_200: int  # tollgate_requests_total{status="200"}, summed over the gateways
    metered_429: int
    cache: CacheCheck
    answered: int = 0  # 200s the load generator got (warm-up and timed), before the burst

    @property
    def expected_rows(self) -> int:
        return self.answered + self.burst_ok + self.cache.ok

    @property
    def exact(self) -> bool:
        return (
            self.burst_ok == self.limit
            and self.burst_limited == self.burst - self.limit
            and self.rows == self.expected_rows
            and self.metered_200 == self.expected_rows
            and self.metered_429 == self.burst_limited
            and self.cache.exact
        )


@dataclass(slots=True)
class ScaleResult:
    gateways: int
    load: Summary
    costs: Costs
    exact: Exactness
    notes: list[str] = field(default_factory=list)

    def per_request_us(self, part: str) -> float:
        return self.costs.cpu_seconds[part] * 1e6 / max(self.load.requests, 1)

    @property
    def gateway_cores(self) -> float:
        return self.costs.cpu_seconds["gateways"] / self.costs.wall

    def brief(self) -> str:
        e = self.exact
        return (
            f"{self.gateways} gateway(s): {self.load.rps:,.0f} req/s, p50 {self.load.p50_ms:.1f} ms, "
            f"p99 {self.load.p99_ms:.1f} ms, errors {self.load.errors}, gateways use {self.gateway_cores:.2f} cores, "
            f"machine {self.costs.machine_busy:.0%} busy; rows {e.rows}/{e.expected_rows}, "
            f"metrics {e.metered_200}/{e.expected_rows}, burst {e.burst_ok} ok + {e.burst_limited} limited "
            f"of {e.burst} (limit {e.limit}); cache {e.cache.cell()}"
        )


def render(
    results: list[ScaleResult], command: str, seconds: float, started: datetime.datetime, cpu_per_gateway: float | None
) -> str:
    base = results[0].load.rps
    counts = ", ".join(str(r.gateways) for r in results)
    limit = (
        f" Each gateway (its event loop and its journal-drain process together) is limited to {cpu_per_gateway:g} "
        "CPU by a cgroup quota, as a Kubernetes CPU limit sets for a pod: replicas of a fixed size, so that "
        "the machine's cores do not cap the count."
        if cpu_per_gateway is not None
        else ""
    )
    lines = [
        f"# Scale-out: {counts} gateways behind HAProxy on one machine",
        "",
        f"Command: `{command}`. Started {started:%Y-%m-%d %H:%M} UTC, code {revision()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, {seconds:g} s timed per count at {64} connections, "
        "metered requests (a customer key, usage journaled and drained into Postgres, admission in Redis)." + limit,
        "",
        "Everything runs on this machine: the load generator (this process), HAProxy, the gateways, the "
        "zero-latency upstream, a private Redis and the shared Postgres server. *Other processes* is the share "
        "of the CPUs that work outside the bench used meanwhile (other engineers' tests and builds share the "
        "machine): the numbers are only comparable within one run. *Gateway cores* = CPU seconds of all gateway "
        "processes per second of the timed run. One gateway process runs one event loop, so it can use at most "
        "one core; on two cores, a second process can add capacity and a fourth only competes. On a contended "
        "machine the scheduler also shares CPU per process, so more gateway processes win more of it from the "
        "other work: read throughput beside *gateway cores* and *other processes*.",
        "",
        "| gateways | req/s | × one | p50 ms | p99 ms | errors | gateway cores | machine busy | other processes "
        "| RSS per gateway |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.gateways} | {r.load.rps:,.0f} | {r.load.rps / base:.2f} | {r.load.p50_ms:.1f} | {r.load.p99_ms:.1f} "
            f"| {r.load.errors} | {r.gateway_cores:.2f} | {r.costs.machine_busy:.0%} | {r.costs.others_busy:.0%} "
            f"| {r.costs.rss_per_gateway / 2**20:.0f} MiB |"
        )
    lines += ["", "CPU time per request (µs), by part:", ""]
    lines += ["| gateways | " + " | ".join(PARTS) + " |", "|---:|" + "---:|" * len(PARTS)]
    for r in results:
        lines.append(f"| {r.gateways} | " + " | ".join(f"{r.per_request_us(p):,.0f}" for p in PARTS) + " |")
    lines += [
        "",
        "Shared stores per request, and exactness. After each count's timed run, through the load balancer: "
        "a burst of twice its limit on a key limited per minute; then one request to a cached model with a "
        "prompt new to that count (a miss, stored in the shared Redis) and 4 × gateways more of it, each on "
        "its own connection so that every gateway answers some (all hits, from whichever gateway stored it). "
        "*Exact* means every answered request (these included) is one usage row and one count in the summed "
        "metrics, the limit let exactly its RPM through, and the cache's usage rows are that one miss and "
        "those hits, each hit priced as the price book says (what it saved and what it cost add up to the "
        "miss's price) and counted by the gateway that served it.",
        "",
    ]
    lines += [
        "| gateways | Redis scripts/req | Redis commands/req | Postgres commits/req | Postgres rows/req "
        "| usage rows = 200s | metric 200s = 200s | RPM burst: 200 / 429 of sent (limit) "
        "| cache: first / hits of sent (gateways serving hits) | exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        c, e, n = r.costs, r.exact, max(r.load.requests, 1)
        lines.append(
            f"| {r.gateways} | {c.redis_scripts / n:.2f} | {c.redis_commands / n:.2f} "
            f"| {c.pg_transactions / n:.4f} | {c.pg_rows / n:.3f} "
            f"| {e.rows} = {e.expected_rows} | {e.metered_200} = {e.expected_rows} "
            f"| {e.burst_ok} / {e.burst_limited} of {e.burst} ({e.limit}) | {e.cache.cell()} "
            f"| {'yes' if e.exact else '**no**'} |"
        )
    lines += ["", *(f"- {note}" for r in results for note in r.notes)]
    return "\n".join(lines) + "\n"
