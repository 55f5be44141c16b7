"""Provider name / base type → provider class."""

from __future__ import annotations

import importlib

from bifrost.config.model import ClientConfig, Config, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError
from bifrost.providers.base import ChatStream, Provider
from bifrost.providers.openai import OpenAICompatibleProvider


class UnsupportedProvider(Provider):
    """A provider type this build cannot call yet: it starts, and every request says so clearly."""

    async def chat(
        self, body: dict, model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict | ChatStream:
        raise GatewayError(
            501,
            f"provider type '{self.config.base_type}' ({self.name}) is not supported by this Bifrost build yet",
            provider=self.name,
            code="provider_not_supported",
            retryable=False,
        )


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
    if config.base_type == "openai":
        return OpenAICompatibleProvider
    spec = _PROVIDER_CLASSES.get(config.base_type)
    if spec is None:
        return UnsupportedProvider
    cls: type[Provider] = getattr(importlib.import_module(spec[0]), spec[1])
    return cls


def unsupported_warnings(config: Config) -> list[str]:
    """One line per configured provider this build accepts but cannot call yet (serving and `bifrost check`)."""
    return [
        f"provider {name}: type '{pconf.base_type}' is not supported yet; its requests will answer 501"
        for name, pconf in config.providers.items()
        if _provider_class(pconf) is UnsupportedProvider
    ]


def build_providers(config: Config) -> dict[str, Provider]:
    client: ClientConfig = config.client
    return {name: _provider_class(pconf)(pconf, client) for name, pconf in config.providers.items()}
