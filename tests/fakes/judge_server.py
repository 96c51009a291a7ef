"""A fake OpenAI chat upstream that judges cache candidates deterministically, as a semantic cache's
``verifier`` would be asked (gateway/cache/verifier.py): it reads "Question A: ..." and "Question B: ..."
from the user turn and answers "no" when the two name different weekdays or only one asks about a
closing time ("until", "close", "late", "shut"), "yes" otherwise; a Question B
that says "slowly" is answered after ``slow_seconds``. Real wire format (chat.completion with usage);
every body it was sent is kept in ``asked``."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

WEEKDAYS = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.IGNORECASE)
CLOSING = re.compile(r"\b(until|close|closes|late|shut)\b", re.IGNORECASE)
SLOW_SECONDS = 3.0


def verdict(prompt: str) -> str:
    first, _, rest = prompt.partition("Answer A:")
    second = rest.partition("Question B:")[2]
    days = [{d.lower() for d in WEEKDAYS.findall(part)} for part in (first, second)]
    closing = [bool(CLOSING.search(part)) for part in (first, second)]
    return "yes" if days[0] == days[1] and closing[0] == closing[1] else "no"


def judge_app(asked: list[dict[str, Any]]) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        asked.append(body)
        prompt = body["messages"][-1]["content"]
        if "slowly" in prompt.partition("Question B:")[2]:
            await asyncio.sleep(SLOW_SECONDS)
        return web.json_response(
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": verdict(prompt), "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 80, "completion_tokens": 1, "total_tokens": 81},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
