"""Vertex AI over HTTP: Anthropic models via rawPredict / streamRawPredict, Gemini models via generateContent.

The URL names the project, region, publisher and model:
``{base}/v1/projects/{project}/locations/{region}/publishers/{anthropic|google}/models/{model}:{action}``
(base ``https://{region}-aiplatform.googleapis.com``, ``https://aiplatform.googleapis.com`` for the
``global`` region, or `network_config.base_url`). Auth is ``Authorization: Bearer <token>`` from the key's
service account (`auth.py`, refreshed in the background). A model whose name starts with ``claude`` is
Anthropic's: the body is the Anthropic Messages request without ``model`` and with
``anthropic_version: vertex-2023-10-16``, translated by the Anthropic provider's `translate.py`, and the
answer (JSON or Anthropic SSE) is read the same way. Any other model is Google's (Gemini): the
OpenAI routes translate it with the Gemini translator (`gemini.py`); the Anthropic route serves Claude only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bifrost.config.key_configs import VERTEX_REGION
from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.anthropic.provider import AnthropicProvider
from bifrost.providers.base import ChatStream, encode_request
from bifrost.providers.vertex import gemini
from bifrost.providers.vertex.auth import TokenError, TokenSource

ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexProvider(AnthropicProvider):
    """Anthropic's reading of answers and streams is inherited; URLs, body and auth are Vertex's.

    Its wire is Anthropic's: the Anthropic route passes a client's Messages body through (`messages`),
    with only `model` moved to the URL and `anthropic_version` set.
    """

    wire = "anthropic"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        self._tokens: dict[str, TokenSource] = {}
        self._roots: dict[str, str] = {}  # key name -> ".../v1/projects/{p}/locations/{r}/publishers/"
        for key in config.keys:
            settings = key.settings
            if not settings.get("auth_credentials"):
                continue
            region = settings.get("region") or VERTEX_REGION
            public = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
            host = config.network.base_url or f"https://{public}"
            self._roots[key.name] = (
                f"{host.rstrip('/')}/v1/projects/{settings['project_id']}/locations/{region}/publishers/"
            )
            self._tokens[key.name] = TokenSource(key.name, settings["auth_credentials"])

    async def start(self) -> None:
        await super().start()
        for source in self._tokens.values():
            source.start()

    async def close(self) -> None:
        for source in self._tokens.values():
            await source.close()
        await super().close()

    async def target(
        self, key: KeyConfig | None, ctx: RequestContext, publisher: str, model: str
    ) -> tuple[str, dict[str, str]]:
        """(URL prefix up to the model, headers with a bearer token)."""
        if ctx.direct_key is not None:
            raise bad_request(f"provider {self.name} takes no direct keys: it signs in with a service account")
        source = self._tokens.get(key.name) if key is not None else None
        if source is None or key is None:
            raise GatewayError(
                401,
                f"provider {self.name} needs a service account: give each key a vertex_key_config",
                provider=self.name,
                code="missing_credentials",
            )
        try:
            token = await source.get(self.request_timeout)
        except TokenError as exc:
            # 503, not 401: the key is not rejected by Vertex, so it must not be cooled down for minutes
            raise GatewayError(503, f"{self.name} key {key.name}: {exc}", provider=self.name) from None
        url = f"{self._roots[key.name]}{publisher}/models/{quote(model, safe='@')}"  # no path tricks in a model
        return url, self.headers({"Authorization": f"Bearer {token}"}, ctx)

    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        if not model.startswith("claude"):
            return await gemini.chat(self, body, model, key, ctx)
        request = self.translated_request(body, model, ctx)
        del request["model"]  # the model is in the URL
        request["anthropic_version"] = ANTHROPIC_VERSION
        prefix, headers = await self.target(key, ctx, "anthropic", model)
        return await self.send_translated(
            prefix + ":rawPredict", prefix + ":streamRawPredict", request, body, model, key, ctx, headers
        )

    async def messages(
        self,
        body: dict[str, Any],
        model: str,
        key: KeyConfig | None,
        ctx: RequestContext,
        version: str | None = None,
        beta: str | None = None,
    ) -> dict[str, Any] | ChatStream:
        """The Anthropic route's body, passed through to rawPredict (model in the URL, Vertex's version)."""
        self._claude_only(model)
        body.pop("model", None)
        body["anthropic_version"] = ANTHROPIC_VERSION
        prefix, headers = await self.target(key, ctx, "anthropic", model)
        if beta:
            headers["anthropic-beta"] = beta
        payload = encode_request(body)
        if ctx.stream:
            return await self.stream_from(
                prefix + ":streamRawPredict", payload, headers, key, model, self._native_events
            )
        return await self.post_json(prefix + ":rawPredict", payload, headers, key)

    async def count_tokens(
        self,
        body: dict[str, Any],
        model: str,
        key: KeyConfig | None,
        ctx: RequestContext,
        version: str | None = None,
        beta: str | None = None,
    ) -> dict[str, Any]:
        """Vertex counts Claude tokens at the `count-tokens` model, with the model named in the body."""
        self._claude_only(model)
        body["model"] = model
        body["anthropic_version"] = ANTHROPIC_VERSION
        prefix, headers = await self.target(key, ctx, "anthropic", "count-tokens")
        if beta:
            headers["anthropic-beta"] = beta
        return await self.post_json(prefix + ":rawPredict", encode_request(body), headers, key)

    def _claude_only(self, model: str) -> None:
        if not model.startswith("claude"):
            raise bad_request(
                f"provider {self.name}: on this route only Anthropic models (claude-*) are served on Vertex",
                param="model",
            )
