"""Provider name / base type → provider class."""

from __future__ import annotations

import importlib

from bifrost.config.model import ClientConfig, Config, ProviderConfig
from bifrost.providers.base import Provider
from bifrost.providers.openai import OpenAICompatibleProvider

# base type -> (module, class) of the providers with their own folder, imported only when configured
_PROVIDER_CLASSES: dict[str, tuple[str, str]] = {
    "anthropic": ("bifrost.providers.anthropic.provider", "AnthropicProvider"),
    "azure": ("bifrost.providers.azure.provider", "AzureProvider"),
    "bedrock": ("bifrost.providers.bedrock.provider", "BedrockProvider"),
    "cohere": ("bifrost.providers.cohere.provider", "CohereProvider"),
    "gemini": ("bifrost.providers.gemini.provider", "GeminiProvider"),
    "vertex": ("bifrost.providers.vertex.provider", "VertexProvider"),
}


def _provider_class(config: ProviderConfig) -> type[Provider]:
    """Every base type the config accepts (config.model.BASE_PROVIDER_TYPES) has a class here."""
    if config.base_type == "openai":
        return OpenAICompatibleProvider
    module, name = _PROVIDER_CLASSES[config.base_type]
    cls: type[Provider] = getattr(importlib.import_module(module), name)
    return cls


def build_provider(pconf: ProviderConfig, client: ClientConfig) -> Provider:
    return _provider_class(pconf)(pconf, client)


def build_providers(config: Config) -> dict[str, Provider]:
    return {name: build_provider(pconf, config.client) for name, pconf in config.providers.items()}
