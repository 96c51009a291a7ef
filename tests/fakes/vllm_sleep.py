"""A fake of vLLM's sleep-mode endpoints (``--enable-sleep-mode``, served with ``VLLM_SERVER_DEV_MODE=1``),
as vllm/entrypoints/serve/dev/sleep/api_router.py (vLLM 0.32) answers them; the real ones need a GPU.

    POST /sleep?level=1              {"status": "sleeping", "level": 1}  (level 0-2, else 422)
    POST /wake_up?tags=weights       {"status": "sleeping" | "awake", "tags": ["weights"]}
    POST /wake_up                    every tag: {"status": "awake", "tags": null}
    GET  /is_sleeping                {"is_sleeping": bool}
    GET  /health                     200 (asleep too: the process is up)

``calls`` records each call as ``(path, query)`` in order.
"""

from __future__ import annotations

from aiohttp import web

TAGS = ("weights", "kv_cache")


class FakeSleepingVLLM:
    def __init__(self) -> None:
        self.asleep: set[str] = set()  # the tags still asleep
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        self.app = web.Application()
        self.app.add_routes(
            [
                web.post("/sleep", self.sleep),
                web.post("/wake_up", self.wake_up),
                web.get("/is_sleeping", self.is_sleeping),
                web.get("/health", self.health),
            ]
        )

    def _record(self, request: web.Request) -> None:
        self.calls.append((request.path, list(request.query.items())))

    async def sleep(self, request: web.Request) -> web.Response:
        self._record(request)
        try:
            level = int(request.query.get("level", "1"))
        except ValueError:
            level = -1
        if not 0 <= level <= 2:
            detail = [{"type": "less_than_equal", "loc": ["query", "level"], "msg": "Input should be <= 2"}]
            return web.json_response({"detail": detail}, status=422)
        self.asleep = set(TAGS)
        return web.json_response({"status": "sleeping", "level": level})

    async def wake_up(self, request: web.Request) -> web.Response:
        self._record(request)
        tags = request.query.getall("tags", [])
        self.asleep -= set(tags) if tags else set(TAGS)
        return web.json_response({"status": "sleeping" if self.asleep else "awake", "tags": tags or None})

    async def is_sleeping(self, request: web.Request) -> web.Response:
        return web.json_response({"is_sleeping": bool(self.asleep)})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)
