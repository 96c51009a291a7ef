"""Offline tiktoken: byte-identical encodings, and OpenAI's chat accounting."""

from __future__ import annotations

from gateway.tokens import Tokenizer, load_encoding


def test_encodings_match_tiktoken_reference_ids() -> None:
    # Reference ids published with tiktoken for "hello world".
    assert load_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert load_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_chat_accounting_matches_openai_cookbook_example() -> None:
    # OpenAI's cookbook: these two messages are 3 + 3 framing tokens per message plus 3 priming.
    tokens = Tokenizer()
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi"}]
    expected = 3 + (3 + 1 + tokens.count("You are a helpful assistant.")) + (3 + 1 + tokens.count("Hi"))
    assert tokens.count_chat(messages) == expected
    assert tokens.count("You are a helpful assistant.") == 6


def test_content_parts_and_special_text_are_counted_not_rejected() -> None:
    tokens = Tokenizer()
    parts = [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": "data:x"}}]
    assert tokens.count_chat([{"role": "user", "content": parts}]) == tokens.count_chat(
        [{"role": "user", "content": "hello"}]
    )
    assert tokens.count("<|endoftext|>") > 1


def test_prompt_forms() -> None:
    tokens = Tokenizer()
    assert tokens.count_prompt([1, 2, 3]) == 3
    assert tokens.count_prompt([[1, 2], [3]]) == 3
    assert tokens.count_prompt(["hello world", "hello"]) == 3
