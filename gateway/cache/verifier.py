"""The semantic cache's judge: a chat model this gateway routes to, asked whether a cached answer answers
a new question, for the few candidates that passed the similarity threshold, the guards and the
cross-encoder. A candidate is served only on the judge's "yes".

The judge is asked through the gateway's own router (retries, fallbacks and breakers as for any
request), with a short fixed prompt at temperature 0 and a few tokens; anything but an answer that
reads exactly "yes" (a timeout, an error, "Yes, but...") is a miss, never a wrong hit.

Who pays: the operator. Each answered judge call is journaled as its own usage event under the
operator's reserved customer id 0 (``OPERATOR_CUSTOMER_ID``: no customer row has it, ids start at 1),
endpoint ``cache.verifier``, at ``cost_micros`` 0: no customer's usage, invoice, budget or credit
ever counts it, while the drain prices its tokens at the model's ``cost`` block as serving cost, so
the admin's serving-cost totals show what the judge spent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from backends.base import JSON
from gateway.core.ids import RequestIds
from gateway.core.throttled_log import ThrottledLog
from gateway.metering.meter import Meter
from gateway.metering.outcome import Outcome
from gateway.metering.record import UsageRecord
from gateway.metering.usage import normalise
from gateway.settings import CacheVerifier

log = logging.getLogger("tollgate.cache")

OPERATOR_CUSTOMER_ID = 0  # the operator's own usage: never a customer's (see the module's docstring)
OPERATOR_KEY_ID = 0
ENDPOINT = "cache.verifier"

SYSTEM = (
    "You check answers kept by a response cache. Question A was asked before and got Answer A. "
    "Reply yes if Answer A fully and correctly answers Question B as well, no otherwise. "
    "Reply with the one word yes or no."
)

# (model, body) -> (the answer's body, the deployment that answered): one chat call through the router.
Ask = Callable[[str, JSON], Awaitable[tuple[JSON, str]]]


def question_for(cached_question: str, cached_answer: str, asked: str) -> str:
    return f"Question A: {cached_question}\n\nAnswer A: {cached_answer}\n\nQuestion B: {asked}\n\nyes or no?"


def said_yes(body: JSON) -> bool:
    """Strict: the first choice's content is "yes" (any case, a trailing full stop allowed), nothing more."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, str) and content.strip().removesuffix(".").strip().lower() == "yes"


def answer_text(body: JSON) -> str | None:
    """A stored chat (or completions) answer's text; None when it has none to judge (tool calls)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    text = message.get("content") if isinstance(message, dict) else choices[0].get("text")
    return text if isinstance(text, str) and text else None


class Verifier:
    """``confirms`` asks the judge about one candidate; its answered calls are journaled as the operator's."""

    def __init__(self, ask: Ask, meter: Meter | None, ids: RequestIds | None = None) -> None:
        self._ask = ask
        self._meter = meter
        self._ids = ids or RequestIds()
        self._warnings = ThrottledLog(log)

    async def confirms(self, config: CacheVerifier, cached_question: str, cached_answer: str, asked: str) -> bool:
        body: JSON = {
            "model": config.model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question_for(cached_question, cached_answer, asked)},
            ],
            "temperature": 0,
            "max_tokens": config.max_tokens,
        }
        started, started_at = time.perf_counter(), time.time()
        try:
            async with asyncio.timeout(config.timeout_seconds):
                answer, deployment = await self._ask(config.model, body)
        except Exception as exc:  # a judge that fails or is late: a miss, never a hit
            self._warnings.warning("cache verifier %s failed (served as a miss): %r", config.model, exc)
            return False
        self._bill(config.model, deployment, answer, started, started_at)
        return said_yes(answer)

    def _bill(self, model: str, deployment: str, answer: JSON, started: float, started_at: float) -> None:
        if self._meter is None or self._meter.journal is None:
            return
        usage = answer.get("usage")
        tokens = normalise(usage if isinstance(usage, dict) else None)
        record = UsageRecord(
            request_id=self._ids.new(),
            created_at=started_at,
            customer_id=OPERATOR_CUSTOMER_ID,
            api_key_id=OPERATOR_KEY_ID,
            model=model,
            deployment=deployment,
            endpoint=ENDPOINT,
            streamed=False,
            status=200,
            outcome=Outcome.OK,
            input_tokens=tokens.input,
            cached_input_tokens=tokens.cached_input,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_micros=0,
            price_book_version=self._meter.price_book.version,
        )
        self._meter.journal.append(record)
