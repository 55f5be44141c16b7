"""Azure OpenAI: OpenAI's wire on deployment URLs, passed through byte for byte.

Only the URL and the auth header differ from OpenAI: each key's `azure_key_config` names the resource
`endpoint`, the `api_version` and a model -> deployment map (a model not in the map is its own deployment
name). The request goes to ``{endpoint}/openai/deployments/{deployment}/{chat/completions|completions|
embeddings}?api-version=...`` with ``api-key: <key value>``; the body is the client's, `model` set to the
requested model (Azure serves the deployment whatever `model` says). A key without `azure_key_config` uses
`network_config.base_url` as its endpoint. URLs are built once per (key, model, operation) and cached.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bifrost.config.key_configs import AZURE_API_VERSION
from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError
from bifrost.providers.base import ChatStream
from bifrost.providers.openai import OpenAICompatibleProvider

_OPERATIONS = {"chat": "/chat/completions", "text": "/completions", "embeddings": "/embeddings"}


class AzureProvider(OpenAICompatibleProvider):
    wire = "openai"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        self.embeddings_url = ""  # per deployment; `_call` asks for stream usage on every streamed call
        # Azure supports stream_options.include_usage (api-version 2024-08-01 and later)
        self.asks_stream_usage = bool(config.meta_config.get("stream_usage", True))
        self._urls: dict[tuple[str | None, str, str], str] = {}

    def auth(self, key: KeyConfig | None, ctx: RequestContext) -> dict[str, str]:
        secret = ctx.direct_key or (key.value if key is not None else None)
        return {"api-key": secret} if secret else {}

    def url(self, key: KeyConfig | None, model: str, operation: str) -> str:
        cache_key = (key.name if key is not None else None, model, operation)
        url = self._urls.get(cache_key)
        if url is None:
            settings = key.settings if key is not None else {}
            endpoint = settings.get("endpoint") or self.config.network.base_url
            if not endpoint:
                raise GatewayError(
                    400,
                    f"provider {self.name} has no endpoint for this request: give the key an azure_key_config "
                    "endpoint (or the provider a network_config.base_url)",
                    provider=self.name,
                )
            deployment = quote((settings.get("deployments") or {}).get(model, model), safe="")
            version = settings.get("api_version") or AZURE_API_VERSION
            path = f"/openai/deployments/{deployment}{_OPERATIONS[operation]}"
            url = f"{endpoint.rstrip('/')}{path}?api-version={version}"
            self._urls[cache_key] = url
        return url

    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        return await self._call(self.url(key, model, "chat"), body, model, key, ctx)

    async def text_completion(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        return await self._call(self.url(key, model, "text"), body, model, key, ctx)

    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        result = await self._call(self.url(key, model, "embeddings"), body, model, key, ctx)
        assert isinstance(result, dict)
        return result
