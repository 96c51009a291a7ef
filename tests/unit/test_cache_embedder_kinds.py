"""The semantic cache's pluggable embedder: the ``cache.embedder`` block (and ``cache.verifier``) refused
at load when wrong, and each kind built: the built-in MiniLM, an ONNX file with its tokenizer (the
shipped MiniLM files, read as any file would be), an embeddings model this gateway serves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gateway.cache.build import build_embedder
from gateway.cache.embedder import Embedder, ServedEmbedder, default_model_path, default_tokenizer_path
from gateway.cache.matcher import SemanticMatcher
from gateway.cache.sync import SemanticSync
from gateway.settings import CacheEmbedder, ConfigError, load_settings

MINILM = {"onnx": str(default_model_path()), "tokenizer": str(default_tokenizer_path())}


def _load(tmp_path: Path, cache: dict[str, Any], other: dict[str, Any] | None = None) -> None:
    models = [
        {"name": "chat", "deployments": [{"backend": "sim", "model": "sim"}], "cache": cache},
        {"name": "vectors", "kind": "embeddings", "deployments": [{"backend": "sim", "model": "sim"}]},
    ]
    if other is not None:
        models.append({"name": "chat-2", "deployments": [{"backend": "sim", "model": "sim"}], "cache": other})
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump({"backends": {"sim": {"type": "simulator"}}, "models": models}))
    load_settings(path, {})


@pytest.mark.parametrize(
    ("cache", "refusal"),
    [
        ({"semantic": True, "embedder": {"builtin": "minilm", "model": "vectors"}}, "exactly one of"),
        ({"semantic": True, "embedder": {}}, "exactly one of"),
        ({"semantic": True, "embedder": {"builtin": "mpnet"}}, "embedder.builtin"),
        ({"semantic": True, "embedder": {"onnx": "/nowhere/model.onnx", "tokenizer": MINILM["tokenizer"]}}, "no such"),
        ({"semantic": True, "embedder": {"onnx": MINILM["onnx"]}}, "embedder.tokenizer: no such file"),
        ({"semantic": True, "embedder": {"model": "vectors"}}, "dimensions"),
        ({"semantic": True, "embedder": {"model": "chat", "dimensions": 384}}, "not an embeddings model"),
        ({"semantic": True, "embedder": {"builtin": "minilm", "dimensions": 384}}, "only a served model"),
        ({"semantic": False, "embedder": {"builtin": "minilm"}}, "needs semantic: true"),
        ({"semantic": True, "verifier": {"model": "vectors"}}, "verifier.model: 'vectors' is not a chat model"),
        ({"semantic": True, "verifier": {"model": "chat", "max_tokens": 500}}, "verifier.max_tokens"),
    ],
)
def test_a_wrong_block_is_refused_at_load(tmp_path: Path, cache: dict[str, Any], refusal: str) -> None:
    with pytest.raises(ConfigError, match=refusal) as refused:
        _load(tmp_path, cache)
    assert "$.models[0].cache" in str(refused.value)


def test_the_semantic_models_share_one_embedder(tmp_path: Path) -> None:
    _load(tmp_path, {"semantic": True}, {"semantic": True, "embedder": {"builtin": "minilm"}})
    with pytest.raises(ConfigError, match=r"must name the same cache\.embedder"):
        _load(tmp_path, {"semantic": True}, {"semantic": True, "embedder": MINILM})


def test_each_kind_loads(tmp_path: Path) -> None:
    for embedder in ({"builtin": "minilm"}, MINILM, {"model": "vectors", "dimensions": 384}):
        _load(tmp_path, {"semantic": True, "embedder": embedder, "verifier": {"model": "chat"}})


def test_an_onnx_file_embeds_as_the_builtin_does() -> None:
    from_file = build_embedder(CacheEmbedder(**MINILM), None)
    assert isinstance(from_file, Embedder) and from_file.dimensions == 384
    text = "What time does the pharmacy open on Saturday?"
    assert np.allclose(from_file.embed(text), build_embedder(CacheEmbedder(builtin="minilm"), None).embed(text))


def test_a_served_model_is_called_on_the_loop_and_its_vectors_normalised() -> None:
    calls: list[list[str]] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [[3.0, 4.0, 0.0] for _ in texts]

    async def main() -> None:
        served = ServedEmbedder(embed, 3, asyncio.get_running_loop())
        # The matcher embeds on its worker thread while the loop serves the call.
        vector = await asyncio.get_running_loop().run_in_executor(None, served.embed, "hello")
        assert np.allclose(vector, [0.6, 0.8, 0.0]) and calls == [["hello"]]
        wrong = ServedEmbedder(embed, 384, asyncio.get_running_loop())
        with pytest.raises(RuntimeError, match="not 1x384"):
            await asyncio.get_running_loop().run_in_executor(None, wrong.embed, "hello")

    asyncio.run(main())


def test_a_served_embedders_lookups_are_in_flight_together_for_the_batcher() -> None:
    sent: list[list[str]] = []
    in_flight = most = 0

    async def embed(texts: list[str]) -> list[list[float]]:
        nonlocal in_flight, most
        sent.append(texts)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)  # the batcher's window and the upstream call
        in_flight -= 1
        return [[1.0, 0.0, 0.0] for _ in texts]

    async def main() -> None:
        served = ServedEmbedder(embed, 3, asyncio.get_running_loop())
        sync = SemanticSync(SemanticMatcher(served), None, "t", 0, served.embed_many_async)
        try:
            assert await sync.match("s", "hello there", None, cross_encoder=False) is None
            assert sent == []  # an empty scope costs no call
            await sync.remember("s", "e1", "hello there")
            found = await asyncio.gather(*(sync.match("s", "hello there", None, cross_encoder=False) for _ in range(8)))
        finally:
            sync.close()
        assert [entry for entry, _ in filter(None, found)] == ["e1"] * 8
        assert most == 8  # awaited on the loop, not one at a time from the matcher's thread

    asyncio.run(main())
