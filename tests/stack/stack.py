"""The running compose stack as the tests see it: the load balancer, each gateway's own address,
the admin API, Postgres through psql in its container, and `docker` on its containers."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx


def docker(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def eventually(check: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> float:
    """Seconds until ``check()`` held; fails the test naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(every)
    return time.monotonic() - started


class Key(NamedTuple):
    customer: str
    secret: str
    id: int


@dataclass
class Stack:
    api: str  # the load balancer
    prometheus: str
    admin_token: str
    project: str
    metrics_token: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Stack:
        return cls(
            api=f"http://127.0.0.1:{env.get('STACK_PORT', '8000')}",
            prometheus=f"http://127.0.0.1:{env.get('PROMETHEUS_PORT', '9090')}",
            admin_token=env["TOLLGATE_ADMIN_TOKEN"],
            project=env.get("STACK_PROJECT", "tollgate"),
            metrics_token=env.get("TOLLGATE_METRICS_TOKEN") or None,
        )

    # Containers, by compose service (the same labels under compose v1 and v2).
    def container(self, service: str) -> str:
        found = docker(
            "ps", "-aq",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        assert found, f"no container for {service}"
        return found.splitlines()[0]

    def gateway(self, service: str) -> str:
        """A gateway's own address, bypassing the load balancer (the host reaches the bridge network)."""
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return f"http://{docker('inspect', '-f', template, self.container(service))}:8000"

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        container = self.container(service)
        status = ["docker", "inspect", "-f", "{{.State.Health.Status}}", container]
        eventually(lambda: subprocess.run(status, capture_output=True, text=True).stdout.strip() == "healthy",
                   timeout, f"{service} healthy")  # fmt: skip

    def wait_answers(self, url: str, timeout: float = 60) -> None:
        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(answers, timeout, f"{url} answers")

    def sql(self, query: str) -> list[str]:
        out = docker("exec", self.container("postgres"), "psql", "-U", "tollgate", "-d", "tollgate", "-Atc", query)
        return [line for line in out.splitlines() if line]

    # The admin API, through the load balancer.
    def admin(self, method: str, path: str, body: dict[str, Any] | None = None, url: str | None = None) -> Any:
        response = httpx.request(
            method,
            f"{url or self.api}/admin{path}",
            json=body,
            headers={"authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        assert response.status_code < 300, response.text
        return response.json()

    def new_key(self, **limits: Any) -> Key:
        """A key of a new customer of its own; ``limits`` are the key's (rpm, tpm, ...)."""
        customer = f"stack-{uuid.uuid4().hex[:10]}"
        self.admin("POST", "/customers", {"name": customer})
        created = self.admin("POST", "/keys", {"customer": customer, **limits})
        return Key(customer, str(created["key"]), int(created["id"]))

    def usage_ids(self, customer: str) -> list[str]:
        """Request ids of the customer's usage events in Postgres, one line per event."""
        return self.sql(
            "SELECT e.request_id FROM usage_events e JOIN customers c ON c.id = e.customer_id"
            f" WHERE c.name = '{customer}'"
        )

    def rolled_up_requests(self, customer: str) -> int:
        """Requests the hourly rollups count for the customer (what dashboards and invoices read)."""
        (total,) = self.sql(
            "SELECT coalesce(sum(r.requests), 0) FROM usage_rollups r JOIN customers c ON c.id = r.customer_id"
            f" WHERE c.name = '{customer}'"
        )
        return int(total)

    def metrics(self, url: str) -> str:
        headers = {"authorization": f"Bearer {self.metrics_token}"} if self.metrics_token else {}
        response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
        response.raise_for_status()
        return response.text
