"""The stack scale-out benchmark's results (benchmarks/compose_scale.py), their exactness verdict and
their Markdown report (``docs/bench-scale-out-stack.md``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from benchmarks.load import Summary
from benchmarks.report import revision

PARTS = ("gateways", "haproxy", "postgres", "redis", "load generator")


@dataclass(slots=True)
class StackExactness:
    answered: int  # 200s the load generator got (warm-up and timed) on the bench key
    rows: int  # the bench key's usage rows in Postgres
    distinct: int  # distinct request ids among them
    limit: int  # the limited key's RPM
    burst: int  # requests sent at once on it
    burst_ok: int
    burst_limited: int
    burst_rows: int  # the limited key's usage rows
    served: list[int] = field(default_factory=list)  # tollgate_requests_total{status="200"} added, by gateway

    @property
    def metered(self) -> int:
        return sum(self.served)

    @property
    def exact(self) -> bool:
        return (
            self.rows == self.answered == self.distinct
            and self.burst_ok == self.limit
            and self.burst_limited == self.burst - self.limit
            and self.burst_rows == self.burst_ok
            and self.metered == self.answered + self.burst_ok
            and all(n > 0 for n in self.served)
        )


@dataclass(slots=True)
class StackResult:
    gateways: int
    load: Summary
    wall: float
    cpu_seconds: dict[str, float]  # by part, over the timed run (containers' cgroups; this process)
    machine_busy: float  # share of all the machine's CPUs busy, whoever used them
    load_average: tuple[float, float]  # the machine's 1-minute load average before and after the timed run
    exact: StackExactness

    def cores(self, part: str) -> float:
        return self.cpu_seconds[part] / self.wall

    @property
    def per_gateway_core(self) -> float:
        cores = self.cores("gateways")
        return self.load.rps / cores if cores > 0 else 0.0

    def brief(self) -> str:
        e = self.exact
        return (
            f"{self.gateways} gateway container(s): exact {'yes' if e.exact else 'NO'} (rows {e.rows}/{e.answered}, "
            f"distinct {e.distinct}, burst {e.burst_ok}/{e.burst_limited} of {e.burst}, served {e.served}); "
            f"{self.load.rps:,.0f} req/s, p50 {self.load.p50_ms:.1f} ms, p99 {self.load.p99_ms:.1f} ms, "
            f"gateways {self.cores('gateways'):.2f} cores, {self.per_gateway_core:,.0f} req/s per gateway core, "
            f"machine {self.machine_busy:.0%} busy, load {self.load_average[1]:.1f}"
        )


def render(
    results: list[StackResult], command: str, seconds: float, started: datetime.datetime, cpus: int, concurrency: int
) -> str:
    counts = ", ".join(str(r.gateways) for r in results)
    lines = [
        f"# Scale-out on the compose stack: {counts} gateway containers behind HAProxy",
        "",
        f"Command: `{command}`. Started {started:%Y-%m-%d %H:%M} UTC, code {revision()}, {cpus} CPUs, "
        f"{seconds:g} s timed per count at {concurrency} keep-alive connections to the load balancer.",
        "",
        "The stack of `docker/compose.yaml` with `docker/compose.scale.yaml` (gateway-3 and gateway-4, each "
        "with its own journal volume; HAProxy with `docker/haproxy-scale.cfg`, which lists all four and holds "
        "the ones not started as down), under its own project `tollgate-scale` on port 18100: the gateway "
        "image, Postgres, Redis and HAProxy containers, and `migrate`. The gateways serve "
        "`docker/tollgate-scale.yaml`: one chat model on the built-in simulator with no latency and no "
        "response cache, so that every request is metered in full (a customer key, admission in Redis, "
        "usage journaled on the gateway's volume and drained into Postgres) and the gateways' CPU bounds "
        "throughput. The load generator is `benchmarks/load.py`, on the host.",
        "",
        "## Exactness",
        "",
        "After each count's timed run, a burst of twice its limit at once (each request on its own "
        "connection, so that HAProxy spreads it) on a second key limited per minute. *Exact* means: the bench "
        "key's usage rows in Postgres equal the 200s the load generator got (warm-up and timed), none twice "
        "(distinct request ids); the burst let exactly the limit through across the gateways, each one a "
        'usage row; the gateways\' summed `tollgate_requests_total{status="200"}` counts them all; and '
        "every gateway served some.",
        "",
        "| gateways | 200s answered | usage rows | distinct request ids | RPM burst: 200 / 429 of sent (limit) "
        "| burst rows | metric 200s (by gateway) | exact |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        e = r.exact
        by = " + ".join(str(n) for n in e.served)
        lines.append(
            f"| {r.gateways} | {e.answered} | {e.rows} | {e.distinct} "
            f"| {e.burst_ok} / {e.burst_limited} of {e.burst} ({e.limit}) | {e.burst_rows} "
            f"| {e.metered} = {by} | {'yes' if e.exact else '**no**'} |"
        )
    lines += _throughput(results)
    return "\n".join(lines) + "\n"


def _throughput(results: list[StackResult]) -> list[str]:
    base = results[0].load.rps
    lines = [
        "",
        "## Throughput per gateway CPU",
        "",
        "CPU is read from each container's cgroup (`cpuacct.usage`, or `cpu.stat` under cgroup v2) before and "
        "after the timed run; *gateway cores* = CPU seconds of all gateway containers (event loop and "
        "journal drain) per second of it, and *req/s per gateway core* divides throughput by that. *Machine "
        "busy* is the share of all the machine's CPUs busy meanwhile, whoever used them (the stack, the load "
        "generator, and other work on the machine); the load average (1 minute) is read before and after the "
        "timed run. Everything shares this machine, so compare the rows of one run only.",
        "",
        "| gateways | req/s | × one | p50 ms | p99 ms | errors | gateway cores | req/s per gateway core "
        "| HAProxy cores | Postgres + Redis cores | load generator cores | machine busy | load avg before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.gateways} | {r.load.rps:,.0f} | {r.load.rps / base:.2f} | {r.load.p50_ms:.1f} "
            f"| {r.load.p99_ms:.1f} | {r.load.errors} | {r.cores('gateways'):.2f} | {r.per_gateway_core:,.0f} "
            f"| {r.cores('haproxy'):.2f} | {r.cores('postgres') + r.cores('redis'):.2f} "
            f"| {r.cores('load generator'):.2f} | {r.machine_busy:.0%} "
            f"| {r.load_average[0]:.1f} → {r.load_average[1]:.1f} |"
        )
    return lines
