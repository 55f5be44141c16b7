"""Anthropic Messages API: translated from/to the canonical OpenAI shape, or passed through natively.

The OpenAI routes use `chat` (translation in `translate.py`); the Anthropic route uses `messages`
and `count_tokens`, which forward the client's Anthropic body untouched but for `model`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    TranslationError,
    UpstreamStreamError,
    anthropic_error_to_openai,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from bifrost.providers.base import ChatStream, Provider, StreamEvent, encode_request
from bifrost.providers.sse import event_data, event_name, finish_body, iter_events

API_VERSION = "2023-06-01"
# Anthropic stream error types -> the HTTP status a client should see for them
_STREAM_ERROR_STATUS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 502,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
}


class AnthropicProvider(Provider):
    wire = "anthropic"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        root = self.base_url if self.base_url.endswith("/v1") else self.base_url + "/v1"
        self.messages_url = root + "/messages"
        self.count_tokens_url = root + "/messages/count_tokens"
        self.models_url = root + "/models?limit=1000"
        self.default_max_tokens = int(config.meta_config.get("default_max_tokens", 4096))

    def auth(self, key: KeyConfig | None, ctx: RequestContext, version: str | None = None) -> dict[str, str]:
        headers = {"anthropic-version": version or API_VERSION}
        secret = ctx.direct_key or (key.value if key is not None else None)
        if secret:
            headers["x-api-key"] = secret
        return headers

    async def list_models(self, key: KeyConfig | None) -> list[str]:
        """Ids from ``GET /v1/models`` (one page of up to 1000)."""
        headers = {**self._base_headers, "anthropic-version": API_VERSION}
        if key is not None and key.value:
            headers["x-api-key"] = key.value
        page = await self.get_json(self.models_url, headers, key)
        return [m["id"] for m in page.get("data") or () if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def parse_error(self, data: bytes) -> tuple[str | None, str | None, str | None, str | None]:
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None, None, None, None
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            return super().parse_error(data)
        _, err = anthropic_error_to_openai(0, body)
        return err["message"], err["type"], err["code"], None

    # -- OpenAI routes: translated ----------------------------------------------------------------------
    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        request = self.translated_request(body, model, ctx)
        headers = self.headers(self.auth(key, ctx), ctx)
        return await self.send_translated(self.messages_url, self.messages_url, request, body, model, key, ctx, headers)

    def translated_request(self, body: dict[str, Any], model: str, ctx: RequestContext) -> dict[str, Any]:
        """The canonical request as an Anthropic Messages body; a request it cannot express is a 400."""
        try:
            request = openai_to_anthropic_request(body, model, self.default_max_tokens)
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        request["stream"] = ctx.stream
        return request

    async def send_translated(
        self,
        url: str,
        stream_url: str,
        request: dict[str, Any],
        body: dict[str, Any],
        model: str,
        key: KeyConfig | None,
        ctx: RequestContext,
        headers: dict[str, str],
    ) -> dict[str, Any] | ChatStream:
        """Send a translated request; the answer (or each stream event) comes back in the canonical shape."""
        payload = encode_request(request)
        if ctx.stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True

            usage: dict[str, Any] = {}  # filled as the stream goes, read by the route at its end

            def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
                return self._translated_events(resp, model, include_usage, usage)

            stream = await self.stream_from(stream_url, payload, headers, key, model, events)
            stream.usage = usage
            return stream
        return anthropic_to_openai_response(await self.post_json(url, payload, headers, key), model)

    async def _translated_events(
        self, resp: aiohttp.ClientResponse, model: str, include_usage: bool, usage: dict[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        translator = AnthropicStreamTranslator(model, include_usage)
        async for name, event, _ in self._anthropic_events(resp):
            try:
                chunks = translator.feed(name, event)
            except UpstreamStreamError as exc:
                raise self._stream_error(exc.error_type, exc.message) from None
            if name == "message_delta" or name == "message_start":
                usage.update(translator.usage)
            for chunk in chunks:
                yield chunk, b"data: " + orjson.dumps(chunk) + b"\n\n"

    # -- Anthropic route: native pass-through ------------------------------------------------------------
    async def messages(
        self,
        body: dict[str, Any],
        model: str,
        key: KeyConfig | None,
        ctx: RequestContext,
        version: str | None = None,
        beta: str | None = None,
    ) -> dict[str, Any] | ChatStream:
        """The client's Anthropic request, forwarded with only `model` set. Streams yield Anthropic events."""
        body["model"] = model
        payload = encode_request(body)
        headers = self.headers(self.auth(key, ctx, version), ctx)
        if beta:
            headers["anthropic-beta"] = beta
        if ctx.stream:
            return await self.stream_from(
                self.messages_url, payload, headers, key, model, self._native_events
            )
        return await self.post_json(self.messages_url, payload, headers, key)

    async def count_tokens(
        self,
        body: dict[str, Any],
        model: str,
        key: KeyConfig | None,
        ctx: RequestContext,
        version: str | None = None,
        beta: str | None = None,
    ) -> dict[str, Any]:
        body["model"] = model
        headers = self.headers(self.auth(key, ctx, version), ctx)
        if beta:
            headers["anthropic-beta"] = beta
        return await self.post_json(self.count_tokens_url, encode_request(body), headers, key)

    async def _native_events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        async for name, event, block in self._anthropic_events(resp):
            if name == "error":
                err = event.get("error") or {}
                raise self._stream_error(str(err.get("type") or "api_error"), str(err.get("message") or ""))
            yield event, block + b"\n\n"  # byte for byte

    async def _anthropic_events(
        self, resp: aiohttp.ClientResponse
    ) -> AsyncIterator[tuple[str, dict[str, Any], bytes]]:
        """Parsed (event name, data, raw block) triples; a stream that ends before message_stop is an error."""
        stopped = False
        try:
            async for block in iter_events(resp, self.name, self.idle_timeout):
                data = event_data(block)
                if data is None:
                    continue
                event = self.parse_json(data, "a stream event")
                name = event_name(block) or str(event.get("type") or "")
                yield name, event, block
                if name == "message_stop":
                    stopped = True
                    await finish_body(resp)  # the connection goes back to the pool
                    return
            if not stopped:
                raise GatewayError(
                    502, f"{self.name} ended the stream before message_stop", provider=self.name
                )
        finally:
            resp.release()

    def _stream_error(self, error_type: str, message: str) -> GatewayError:
        status = _STREAM_ERROR_STATUS.get(error_type, 502)
        return GatewayError(
            status,
            message or f"{self.name} stream error ({error_type})",
            provider=self.name,
            type=anthropic_error_to_openai(status, {"error": {"type": error_type}})[1]["type"],
        )
