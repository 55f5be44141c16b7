"""Gemini models on Vertex: the Gemini translator (`bifrost.providers.gemini.translate`) on Vertex URLs.

``.../publishers/google/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse`` with the
key's bearer token; the body and the answers are Gemini's ``generateContent`` shapes, translated by the
same functions as the Gemini (AI Studio) provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from bifrost.config.model import KeyConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import ChatStream, StreamEvent, encode_request
from bifrost.providers.gemini import translate as gemini
from bifrost.providers.sse import event_data, iter_events

if TYPE_CHECKING:
    from bifrost.providers.vertex.provider import VertexProvider


async def chat(
    provider: VertexProvider, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
) -> dict[str, Any] | ChatStream:
    try:
        payload = encode_request(gemini.openai_to_gemini_request(body, model))
    except gemini.TranslationError as exc:
        raise bad_request(str(exc), param=exc.param) from None
    prefix, headers = await provider.target(key, ctx, "google", model)
    if not ctx.stream:
        answer = await provider.post_json(prefix + ":generateContent", payload, headers, key)
        try:
            return gemini.gemini_to_openai_response(answer, model)  # type: ignore[no-any-return]
        except gemini.PromptBlocked as exc:
            raise _blocked(provider.name, exc) from None
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    stream_translator = gemini.GeminiStreamTranslator(model, include_usage)
    usage: dict[str, Any] = {}

    def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        return _events(provider, resp, stream_translator, usage)

    url = prefix + ":streamGenerateContent?alt=sse"
    stream = await provider.stream_from(url, payload, headers, key, model, events)
    stream.usage = usage
    return stream


async def _events(
    provider: VertexProvider,
    resp: aiohttp.ClientResponse,
    stream_translator: Any,
    usage: dict[str, Any],
) -> AsyncIterator[StreamEvent]:
    try:
        async for block in iter_events(resp, provider.name, provider.idle_timeout):
            data = event_data(block)
            if data is None:
                continue
            chunk = provider.parse_json(data, "a stream event")
            error = chunk.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                status = code if isinstance(code, int) and 400 <= code <= 599 else 502
                raise GatewayError(status, str(error.get("message") or "stream error"), provider=provider.name)
            try:
                out = stream_translator.feed(chunk)
            except gemini.PromptBlocked as exc:
                raise _blocked(provider.name, exc) from None
            usage.update(stream_translator.usage)
            for item in out:
                yield item, b"data: " + orjson.dumps(item) + b"\n\n"
        try:
            tail = stream_translator.finish()
        except ValueError:
            message = f"{provider.name} ended the stream before it finished"
            raise GatewayError(502, message, provider=provider.name) from None
        for item in tail:
            yield item, b"data: " + orjson.dumps(item) + b"\n\n"
    finally:
        resp.release()


def _blocked(provider: str, exc: Any) -> GatewayError:
    return GatewayError(400, f"{exc.message}; rephrase the request", code="content_filter", provider=provider)
