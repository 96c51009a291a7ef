"""The judge's strict reading of its answer, and its failures: anything but "yes" is a miss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.cache.verifier import Verifier, answer_text, said_yes
from gateway.settings import CacheVerifier


def _said(content: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


@pytest.mark.parametrize("content", ["yes", "Yes", " YES.\n", "yes."])
def test_a_plain_yes_is_yes(content: str) -> None:
    assert said_yes(_said(content))


@pytest.mark.parametrize("content", ["no", "Yes, but only on weekdays", "yes yes", "y", "", None, "maybe. yes"])
def test_anything_else_is_no(content: Any) -> None:
    assert not said_yes(_said(content))


def test_a_body_without_choices_is_no() -> None:
    assert not said_yes({"error": {"message": "overloaded"}}) and not said_yes({"choices": []})


def test_the_answer_judged_is_the_text_of_a_chat_or_completions_answer() -> None:
    assert answer_text(_said("Nine o'clock.")) == "Nine o'clock."
    assert answer_text({"choices": [{"index": 0, "text": "Nine."}]}) == "Nine."
    assert answer_text(_said(None)) is None  # a tool call has nothing to judge


def test_a_failing_or_late_judge_is_a_miss() -> None:
    async def fails(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        raise ConnectionError("judge down")

    async def late(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        await asyncio.sleep(1)
        return _said("yes"), "judges"

    config = CacheVerifier(model="judge", timeout_seconds=0.05)
    for ask in (fails, late):
        assert not asyncio.run(Verifier(ask, None).confirms(config, "a?", "A.", "b?"))
