"""The closed registry of backend types, keyed by the config ``type``.

Every backend module is imported here unconditionally: an import error is an error, never a
silently missing backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from backends.anthropic import AnthropicBackend, AnthropicConfig
from backends.azure import AzureBackend, AzureConfig
from backends.base import Backend, BackendContext
from backends.bedrock import BedrockBackend, BedrockConfig
from backends.gemini import GeminiBackend, GeminiConfig
from backends.openai_compatible import OpenAICompatibleBackend, OpenAICompatibleConfig
from backends.simulator import SimulatorBackend, SimulatorConfig
from backends.vllm import VLLMConfig, replicas_of

BackendConfig = (
    OpenAICompatibleConfig | VLLMConfig | AnthropicConfig | SimulatorConfig | AzureConfig | BedrockConfig | GeminiConfig
)


def build_replicas(name: str, config: BackendConfig, ctx: BackendContext) -> Sequence[Backend]:
    """The backends that serve one configured deployment: one per server of a vLLM pool, else one."""
    if isinstance(config, VLLMConfig):
        return replicas_of(name, config, ctx)
    if isinstance(config, OpenAICompatibleConfig):
        return [OpenAICompatibleBackend.from_config(name, config, ctx)]
    if isinstance(config, AnthropicConfig):
        return [AnthropicBackend.from_config(name, config, ctx)]
    if isinstance(config, AzureConfig):
        return [AzureBackend(name, config, ctx)]
    if isinstance(config, BedrockConfig):
        return [BedrockBackend.from_config(name, config, ctx)]
    if isinstance(config, GeminiConfig):
        return [GeminiBackend.from_config(name, config, ctx)]
    return [SimulatorBackend.from_config(name, config, ctx)]
