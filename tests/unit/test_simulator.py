"""The simulator: deterministic, and never more tokens than asked for."""

from __future__ import annotations

import pytest

from backends.simulator import VOCABULARY, SimulatorConfig, answer_words
from gateway.tokens import load_encoding


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_every_word_is_one_token_with_or_without_a_leading_space(encoding: str) -> None:
    tokens = load_encoding(encoding)
    assert [w for w in VOCABULARY if len(tokens.encode(w)) != 1 or len(tokens.encode(f" {w}")) != 1] == []


def test_answers_depend_on_prompt_seed_and_choice_and_respect_the_cap() -> None:
    config = SimulatorConfig(min_tokens=8, max_tokens=48)
    first = answer_words("hello", None, 0, 1000, config)
    assert first == answer_words("hello", None, 0, 1000, config)
    assert first != answer_words("hello!", None, 0, 1000, config)
    assert first != answer_words("hello", 7, 0, 1000, config)
    assert first != answer_words("hello", None, 1, 1000, config)
    assert 8 <= len(first) <= 48 and len(answer_words("hello", None, 0, 5, config)) == 5
