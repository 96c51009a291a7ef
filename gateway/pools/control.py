"""The control endpoint of ``tollgate pool serve``: the gateway stops an idle pool and starts it again.

    GET  /pool          {"pool": NAME, "state": "running" | "stopped"}
    POST /pool/stop     stops every replica (answers once they have exited); 409 while the engines
                        did work within the pool's idle_after (another gateway still uses it)
    POST /pool/start    starts them again (answers at once; the gateway probes their /health)

Every call needs ``Authorization: Bearer <control.token>`` (compared in constant time); anything
else is a 401, an unknown path a 404. It listens where the pool's ``control.url`` points, and only
there: keep it on a private address.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import urlsplit

from backends.vllm import PoolControl
from gateway.edge.bearer import bearer_matches
from gateway.pools.activity import Busy
from gateway.settings import ConfigError


class Fleet(Protocol):
    name: str

    def running(self) -> bool: ...

    def stop_idle(self) -> None:
        """Stop the replicas unless their engines worked lately (raises :class:`Busy`)."""
        ...

    def start(self) -> None: ...


def control_server(control: PoolControl, fleet: Fleet) -> ThreadingHTTPServer:
    """Listening (not yet serving: call ``serve_forever`` in a thread) at ``control.url``."""
    address = urlsplit(control.url)
    if address.hostname is None or address.port is None:
        raise ConfigError(f"control url {control.url!r} needs an explicit host and port")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self._allowed():
                return
            if self._path() == "/pool":
                self._answer(200, _state(fleet))
            else:
                self._answer(404, {"error": "no such path"})

        def do_POST(self) -> None:
            if not self._allowed():
                return
            action = {"/pool/stop": fleet.stop_idle, "/pool/start": fleet.start}.get(self._path())
            if action is None:
                self._answer(404, {"error": "no such path"})
                return
            try:
                action()
            except Busy as busy:
                self._answer(409, {"error": f"not idle: {busy}"})
                return
            self._answer(200, _state(fleet))

        def _path(self) -> str:
            return urlsplit(self.path).path.rstrip("/")

        def _allowed(self) -> bool:
            if bearer_matches(self.headers.get("authorization"), control.token):
                return True
            self._answer(401, {"error": "a valid bearer token is required"})
            return False

        def _answer(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the pool's own lines say what happened."""

    return ThreadingHTTPServer((address.hostname, address.port), Handler)


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="pool-control", daemon=True)
    thread.start()
    return thread


def _state(fleet: Fleet) -> dict[str, str]:
    return {"pool": fleet.name, "state": "running" if fleet.running() else "stopped"}
