"""Gemini (Google AI Studio): HTTP, auth and streams; the translation lives in `translate.py`.

The OpenAI routes use `chat` and `embeddings` (translated); the ``/genai`` route uses `native`, which
forwards the client's Gemini body untouched to ``models/{model}:{action}`` and passes the answer (and each
stream event) through byte for byte. The key travels in ``x-goog-api-key``, never in the URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import ChatStream, Provider, StreamEvent, encode_request
from bifrost.providers.gemini.translate import (
    GeminiStreamTranslator,
    PromptBlocked,
    TranslationError,
    gemini_to_openai_embeddings,
    gemini_to_openai_response,
    openai_to_gemini_embeddings,
    openai_to_gemini_request,
)
from bifrost.providers.sse import event_data, iter_events

NATIVE_ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens", "embedContent",
                            "batchEmbedContents"})


def google_error_message(obj: Any) -> tuple[str | None, int | None]:
    """(message, code) of a Google error body ``{"error": {"code", "message", "status"}}`` (or a list of one)."""
    if isinstance(obj, list) and obj:
        obj = obj[0]
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return None, None
    code = err.get("code")
    message = err.get("message")
    return (message if isinstance(message, str) and message else None), (code if isinstance(code, int) else None)


class GeminiProvider(Provider):
    wire = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        base = self.base_url
        self.root = base if base.endswith(("/v1beta", "/v1")) else base + "/v1beta"

    def url(self, model: str, action: str) -> str:
        return f"{self.root}/models/{model.removeprefix('models/')}:{action}"

    def auth(self, key: KeyConfig | None, ctx: RequestContext) -> dict[str, str]:
        secret = ctx.direct_key or (key.value if key is not None else None)
        return {"x-goog-api-key": secret} if secret else {}

    def parse_error(self, data: bytes) -> tuple[str | None, str | None, str | None, str | None]:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None, None, None, None
        message, _ = google_error_message(obj)
        return message, None, None, None

    # -- OpenAI routes: translated ------------------------------------------------------------------------
    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        try:
            payload = encode_request(openai_to_gemini_request(body, model))
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        headers = self.headers(self.auth(key, ctx), ctx)
        if ctx.stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            translator = GeminiStreamTranslator(model, include_usage)
            usage: dict[str, Any] = {}

            def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
                return self._translated_events(resp, translator, usage)

            url = self.url(model, "streamGenerateContent") + "?alt=sse"
            stream = await self.stream_from(url, payload, headers, key, model, events)
            stream.usage = usage
            return stream
        answer = await self.post_json(self.url(model, "generateContent"), payload, headers, key)
        try:
            return gemini_to_openai_response(answer, model)
        except PromptBlocked as exc:
            raise self._blocked(exc) from None

    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        try:
            payload = encode_request(openai_to_gemini_embeddings(body, model))
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        headers = self.headers(self.auth(key, ctx), ctx)
        answer = await self.post_json(self.url(model, "batchEmbedContents"), payload, headers, key)
        return gemini_to_openai_embeddings(answer, model, body.get("encoding_format"))

    async def _translated_events(
        self, resp: aiohttp.ClientResponse, translator: GeminiStreamTranslator, usage: dict[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        async for chunk, _ in self._gemini_events(resp):
            try:
                out = translator.feed(chunk)
            except PromptBlocked as exc:
                raise self._blocked(exc) from None
            usage.update(translator.usage)
            for item in out:
                yield item, b"data: " + orjson.dumps(item) + b"\n\n"
        try:
            tail = translator.finish()
        except ValueError:
            raise GatewayError(502, f"{self.name} ended the stream before it finished", provider=self.name) from None
        for item in tail:
            yield item, b"data: " + orjson.dumps(item) + b"\n\n"

    def _blocked(self, exc: PromptBlocked) -> GatewayError:
        return GatewayError(400, f"{exc.message}; rephrase the request", code="content_filter", provider=self.name)

    # -- /genai route: native pass-through ---------------------------------------------------------------------
    async def native(
        self, action: str, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        """The client's Gemini body forwarded to ``models/{model}:{action}``; streams yield Gemini events."""
        if "model" in body and action in ("embedContent", "countTokens"):
            body["model"] = f"models/{model}"
        requests = body.get("requests")
        if action == "batchEmbedContents" and isinstance(requests, list):
            body["requests"] = [{**r, "model": f"models/{model}"} if isinstance(r, dict) else r for r in requests]
        payload = encode_request(body)
        headers = self.headers(self.auth(key, ctx), ctx)
        if action == "streamGenerateContent":
            url = self.url(model, action) + "?alt=sse"
            return await self.stream_from(url, payload, headers, key, model, self._native_events)
        return await self.post_json(self.url(model, action), payload, headers, key)

    async def _native_events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        async for chunk, data in self._gemini_events(resp):
            yield chunk, b"data: " + data + b"\r\n\r\n"

    async def _gemini_events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
        """(parsed chunk, raw data) per upstream event; an ``error`` event raises with Google's status."""
        try:
            async for block in iter_events(resp, self.name, self.idle_timeout):
                data = event_data(block)
                if data is None:
                    continue
                chunk = self.parse_json(data, "a stream event")
                if "error" in chunk:
                    message, code = google_error_message(chunk)
                    status = code if code is not None and 400 <= code <= 599 else 502
                    raise GatewayError(status, message or f"{self.name} stream error", provider=self.name)
                yield chunk, data
        finally:
            resp.release()

    # -- model list ----------------------------------------------------------------------------------------------
    async def list_models(self, key: KeyConfig | None) -> list[str]:
        """Model ids from ``GET models`` (every page), without the ``models/`` prefix."""
        headers = {**self._base_headers, **({"x-goog-api-key": key.value} if key is not None and key.value else {})}
        ids: list[str] = []
        token = ""
        for _ in range(20):
            url = f"{self.root}/models?pageSize=1000" + (f"&pageToken={token}" if token else "")
            page = await self.get_json(url, headers, key)
            for item in page.get("models") or ():
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name:
                    ids.append(name.removeprefix("models/"))
            token = page.get("nextPageToken") or ""
            if not isinstance(token, str) or not token:
                break
        return ids
