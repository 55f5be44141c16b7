"""Cohere v2 over HTTP: `/v2/chat` (JSON and SSE) and `/v2/embed`, bearer auth; translation in `translate.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import ChatStream, Provider, StreamEvent, encode_request
from bifrost.providers.canonical import TranslationError
from bifrost.providers.cohere.translate import (
    CohereStreamTranslator,
    cohere_to_openai_embeddings,
    cohere_to_openai_response,
    openai_to_cohere_embed,
    openai_to_cohere_request,
)
from bifrost.providers.sse import event_data, finish_body, iter_events


class CohereProvider(Provider):
    wire = "cohere"
    default_base_url = "https://api.cohere.com"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        root = self.base_url.removesuffix("/v2")
        self.chat_url = root + "/v2/chat"
        self.embed_url = root + "/v2/embed"

    def auth(self, key: KeyConfig | None, ctx: RequestContext) -> dict[str, str]:
        secret = ctx.direct_key or (key.value if key is not None else None)
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        try:
            request = openai_to_cohere_request(body, model)
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        request["stream"] = ctx.stream
        payload = encode_request(request)
        headers = self.headers(self.auth(key, ctx), ctx)
        if not ctx.stream:
            return cohere_to_openai_response(await self.post_json(self.chat_url, payload, headers, key), model)
        options = body.get("stream_options")
        translator = CohereStreamTranslator(model, isinstance(options, dict) and options.get("include_usage") is True)

        def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
            return self._events(resp, translator)

        stream = await self.stream_from(self.chat_url, payload, headers, key, model, events)
        stream.usage = translator.usage
        return stream

    async def _events(
        self, resp: aiohttp.ClientResponse, translator: CohereStreamTranslator
    ) -> AsyncIterator[StreamEvent]:
        try:
            async for block in iter_events(resp, self.name, self.idle_timeout):
                data = event_data(block)
                if data is None or data == b"[DONE]":
                    continue
                event = self.parse_json(data, "a stream event")
                delta = event.get("delta")
                if isinstance(delta, dict) and delta.get("finish_reason") == "ERROR":
                    message = str(delta.get("error") or "generation failed")
                    raise GatewayError(502, f"{self.name} stream error: {message}", provider=self.name)
                if event.get("type") is None and ("message" in event or "error" in event):
                    raise GatewayError(502, str(event.get("message") or event.get("error")), provider=self.name)
                for chunk in translator.feed(event):
                    yield chunk, b"data: " + orjson.dumps(chunk) + b"\n\n"
                if translator.ended:
                    await finish_body(resp)  # the connection goes back to the pool
                    return
            raise GatewayError(502, f"{self.name} ended the stream before message-end", provider=self.name)
        finally:
            resp.release()

    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        try:
            request = openai_to_cohere_embed(body, model)
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        headers = self.headers(self.auth(key, ctx), ctx)
        answer = await self.post_json(self.embed_url, encode_request(request), headers, key)
        return cohere_to_openai_embeddings(answer, model, body.get("encoding_format"))
