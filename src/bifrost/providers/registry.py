"""Provider name / base type → provider class."""

from __future__ import annotations

import logging

from bifrost.config.model import ClientConfig, Config, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError
from bifrost.providers.base import ChatStream, Provider
from bifrost.providers.openai import OpenAICompatibleProvider

log = logging.getLogger("bifrost")


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


def _provider_class(config: ProviderConfig) -> type[Provider]:
    if config.base_type == "openai":
        return OpenAICompatibleProvider
    if config.base_type == "anthropic":
        try:
            from bifrost.providers.anthropic.provider import AnthropicProvider
        except ImportError:  # pragma: no cover - during development only
            return UnsupportedProvider
        return AnthropicProvider
    return UnsupportedProvider


def build_providers(config: Config) -> dict[str, Provider]:
    client: ClientConfig = config.client
    providers: dict[str, Provider] = {}
    for name, pconf in config.providers.items():
        cls = _provider_class(pconf)
        if cls is UnsupportedProvider:
            log.warning(
                "provider %s: type '%s' is not supported yet; its requests will answer 501",
                name,
                pconf.base_type,
            )
        providers[name] = cls(pconf, client)
    return providers
