"""``POST /v1/embeddings``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.protocol.completions import check_token_inputs
from gateway.protocol.decoding import invalid

# Above any embedding model's width (OpenAI's widest has 3072): 2048 inputs of this many dimensions is
# already a large answer. Unbounded, one request for a billion dimensions had the simulator build a
# vector of that many floats and the gateway killed for memory (found by the fuzzer).
MAX_DIMENSIONS = 8192


class EmbeddingRequest(msgspec.Struct):
    model: str
    input: str | Annotated[list[Any], Meta(max_length=2048)]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Meta(ge=1, le=MAX_DIMENSIONS)] | None = None
    user: str | None = None

    def check(self) -> None:
        if isinstance(self.input, str):
            if not self.input:
                raise invalid("input", "'input' must not be an empty string.")
            return
        check_token_inputs("input", self.input, allow_empty_text=False)
