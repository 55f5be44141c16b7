"""Azure OpenAI: OpenAI's wire on deployment URLs, passed through byte for byte.

Only the URL and the auth header differ from OpenAI: each key's `azure_key_config` names the resource
`endpoint`, the `api_version` and a model -> deployment map (a model not in the map is its own deployment
name). The request goes to ``{endpoint}/openai/deployments/{deployment}/{chat/completions|completions|
embeddings}?api-version=...`` with ``api-key: <key value>``; the body is the client's, `model` set to the
requested model (Azure serves the deployment whatever `model` says). A key without `azure_key_config` uses
`network_config.base_url` as its endpoint. URLs are built once per (key, model, operation) and cached.

The Responses API and every other passed-through OpenAI path (files, batches, stored responses) use Azure's
v1 API instead, which has no deployment in the URL and no api-version: ``{endpoint}/openai/v1/responses``
with `model` set to the deployment name (the key's `api_version` applies to the deployment URLs only).
Azure's models list names base models, not the deployments requests go to, so it is not asked.
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
_V1 = {"v1": "", "responses": "/responses"}  # Azure's v1 API: no deployment in the path, no api-version


def deployment_for(key: KeyConfig | None, model: str) -> str:
    """The key's deployment for `model` (its own name when the key maps none)."""
    deployments = key.settings.get("deployments") if key is not None else None
    return (deployments or {}).get(model, model)


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
            if operation in _V1:
                url = f"{endpoint.rstrip('/')}/openai/v1{_V1[operation]}"
            else:
                deployment = quote(deployment_for(key, model), safe="")
                version = settings.get("api_version") or AZURE_API_VERSION
                path = f"/openai/deployments/{deployment}{_OPERATIONS[operation]}"
                url = f"{endpoint.rstrip('/')}{path}?api-version={version}"
            self._urls[cache_key] = url
        return url

    def responses_target(self, key: KeyConfig | None, model: str) -> tuple[str, str]:
        return self.url(key, "", "responses"), deployment_for(key, model)

    def root_for(self, key: KeyConfig | None) -> str:
        return self.url(key, "", "v1")

    async def list_models(self, key: KeyConfig | None) -> list[str]:
        return []  # Azure lists base models, not deployments: the configured names are the list

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
