"""The semantic cache's second stage: a cross-encoder that reads the cached question and the new one together.

A bi-encoder embeds each question alone and rates "open on Saturday" and "open on Sunday" as close as
two wordings of one question; the cross-encoder attends across both and tells them apart. It runs only
on the few candidates above the similarity threshold that the guards let through, in one batch.

The model is Tollgate's own: all-MiniLM-L6-v2's encoder fine-tuned on reproducible pairs
(tools/cross_encoder/, model card in ``data/CROSS_ENCODER.md``), int8 ONNX on onnxruntime, one thread,
torch-free. Its tokenizer is MiniLM's ``tokenizer.json`` (the embedder's), encoding the pair as
``[CLS] cached [SEP] new [SEP]`` truncated to 64 tokens, as in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from gateway.cache.embedder import cpu_session, default_tokenizer_path

# The length the model was trained at; longer pairs are cut, the longer question first.
MAX_TOKENS = 64


def default_model_path() -> Path:
    return Path(str(resources.files("gateway.cache").joinpath("data", "cross_encoder.onnx")))


class CrossEncoder:
    """Scores (cached question, new question) pairs: the probability that one answer serves both."""

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        threads: int = 1,
        symmetric: bool = True,
    ) -> None:
        """``symmetric`` (the shipped model's operating point was chosen reading both orders): read each pair
        in both orders (cached, new) and (new, cached), in the same batch, and average the two logits, so that
        the score does not depend on which question was cached first; ``False`` reads (cached, new) only."""
        model = model_path or default_model_path()
        self._symmetric = symmetric
        tokens = tokenizer_path or default_tokenizer_path()
        self._session = cpu_session(model, tokens, threads)
        self._tokenizer = Tokenizer.from_file(str(tokens))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        # tokenizer.json pads to a fixed 128; a batch needs only its longest pair.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def scores(self, cached: Sequence[str], asked: str) -> npt.NDArray[np.float32]:
        """For each cached question, the probability that its answer also answers ``asked``; one batch."""
        if not cached:
            return np.zeros(0, dtype=np.float32)
        pairs = [(text, asked) for text in cached]
        if self._symmetric:
            pairs += [(asked, text) for text in cached]
        encodings = self._tokenizer.encode_batch(pairs)
        feeds = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        logits = np.asarray(self._session.run(None, feeds)[0], dtype=np.float64)
        if self._symmetric:
            logits = (logits[: len(cached)] + logits[len(cached) :]) / 2
        probabilities: npt.NDArray[np.float32] = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return probabilities
