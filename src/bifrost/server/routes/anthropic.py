"""Anthropic Messages wire in and out: POST /anthropic/v1/messages (+ count_tokens), CONTRACT §3.

An Anthropic model is served natively: the body goes upstream as sent, with only ``model`` rewritten and the
gateway-only fields (``fallbacks``) removed, and ``anthropic-version`` / ``anthropic-beta`` forwarded
unchanged; stream events come back byte for byte. The gateway checks only what it must know itself (a JSON
object within the size limit, with a ``model``): roles, block types and fields are the upstream's to judge,
so new protocol features (mid-conversation ``system`` messages, new block types, server tools,
``context_management``, ``cache_control`` anywhere) work on day one. Any other provider is reached through
the canonical OpenAI shape (``bifrost.integrations.anthropic``, which refuses what it cannot translate) and
translated back, streaming included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import RequestContext, Target
from bifrost.core.errors import GatewayError, bad_request
from bifrost.integrations.anthropic import (
    OpenAIStreamToAnthropic,
    TranslationError,
    anthropic_request_to_openai,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
)
from bifrost.mcp.agent import AgentRun
from bifrost.mcp.inject import inject_anthropic, select_tools
from bifrost.providers.anthropic.provider import AnthropicProvider
from bifrost.providers.base import ChatStream, Provider
from bifrost.server.gateway import Gateway, json_answer
from bifrost.server.relay import relay
from bifrost.server.routes.mcp import chat_asker, continue_agent
from bifrost.server.routes.openai import GATEWAY_ONLY_FIELDS, extra_fields

log = logging.getLogger("bifrost")



def anthropic_error_response(exc: GatewayError, ctx: RequestContext, gw: Gateway) -> web.Response:
    headers = gw.failed(exc, ctx)
    record = ctx.record
    body = openai_error_to_anthropic(exc.status, exc.openai_error())
    body["request_id"] = record.request_id
    return web.Response(status=exc.status, body=orjson.dumps(body), headers=headers)


def _to_openai(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return anthropic_request_to_openai(body)
    except TranslationError as exc:
        raise bad_request(str(exc), param=exc.param) from None


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        app.router.add_post("/anthropic/v1/messages", self.messages)
        app.router.add_post("/anthropic/v1/messages/count_tokens", self.count_tokens)
        app.router.add_get("/anthropic/v1/models", self.models)

    async def models(self, request: web.Request) -> web.Response:
        catalog = self.gw.catalog
        await catalog.current()
        return web.Response(body=catalog.render("anthropic", _models_body), content_type="application/json")

    async def messages(self, request: web.Request) -> web.StreamResponse:
        gw = self.gw
        ctx = gw.context(request, "anthropic", "messages")
        record = ctx.record
        gw.observer.request_started("messages")
        version = request.headers.get("anthropic-version")
        beta = request.headers.get("anthropic-beta")
        try:
            body = await gw.read_json(request)
            record.model_requested = body.get("model")
            fallbacks = body.get("fallbacks")
            for name in GATEWAY_ONLY_FIELDS:
                body.pop(name, None)
            targets = gw.router.targets(body.get("model"), "anthropic", fallbacks)
            ctx.stream = record.stream = body.get("stream") is True
            if gw.content_logging:
                record.request_body = body
            mcp_tools: tuple[Any, ...] = ()
            if gw.mcp is not None:
                mcp_tools = select_tools(gw.mcp.registry, request.headers)
                body = inject_anthropic(body, mcp_tools)
            agent = any(t.auto for t in mcp_tools)  # agent mode runs on the canonical shape, for every target
            # translated once, when a non-Anthropic target is first tried (at once for a non-Anthropic primary or
            # agent mode, so a request it cannot translate is refused before any attempt)
            canonical = None
            if agent or gw.providers[targets[0].provider].wire != "anthropic":
                canonical = _to_openai(body)
            if agent:
                assert gw.mcp is not None and canonical is not None
                ctx.mcp = AgentRun(gw.mcp, mcp_tools, canonical)

            async def call(provider: Provider, target: Target, key: Any) -> Any:
                nonlocal canonical
                if isinstance(provider, AnthropicProvider) and not agent:
                    return await provider.messages(dict(body), target.model, key, ctx, version, beta)
                if canonical is None:
                    canonical = _to_openai(body)
                translated = provider.adapt_translated(dict(canonical), target.model)
                return await provider.chat(translated, target.model, key, ctx)

            result = await gw.engine.run(ctx, targets, call)
            native = gw.providers[record.provider or ""].wire == "anthropic" and not agent
            if ctx.mcp is not None:
                result = await continue_agent(ctx.mcp, result, chat_asker(gw, ctx, targets))
            if isinstance(result, ChatStream):
                return await relay(gw, request, ctx, result, _AnthropicOut(native, record.model or "", record))
            if not native:
                result = openai_response_to_anthropic(result, record.model or "")
            usage = result.get("usage") or {}
            record.prompt_tokens = _prompt_tokens(usage)
            record.completion_tokens = usage.get("output_tokens") or 0
            record.cached_tokens = usage.get("cache_read_input_tokens") or 0
            record.cache_write_tokens = usage.get("cache_creation_input_tokens") or 0
            result["extra_fields"] = extra_fields(record, ctx)
            return json_answer(record, result)
        except GatewayError as exc:
            return anthropic_error_response(exc, ctx, gw)
        except asyncio.CancelledError:
            record.status = 499
            raise
        except Exception:
            log.exception("unexpected error serving request %s", record.request_id)
            return anthropic_error_response(
                GatewayError(500, f"internal gateway error (request id {record.request_id})"), ctx, gw
            )
        finally:
            record.latency_s = time.perf_counter() - ctx.started
            gw.finish(record)

    async def count_tokens(self, request: web.Request) -> web.Response:
        gw = self.gw
        ctx = gw.context(request, "anthropic", "count_tokens")
        record = ctx.record
        gw.observer.request_started("count_tokens")  # it uses a provider key: metrics and access log see it
        try:
            body = await gw.read_json(request)
            record.model_requested = body.get("model")
            target = gw.router.resolve(body.get("model"), "anthropic")
            provider = gw.providers[target.provider]
            if not isinstance(provider, AnthropicProvider):
                raise bad_request(
                    f"count_tokens is only available for Anthropic models; {body.get('model')} is "
                    f"served by {provider.name}",
                    param="model",
                )
            for name in GATEWAY_ONLY_FIELDS:
                body.pop(name, None)
            version = request.headers.get("anthropic-version")
            beta = request.headers.get("anthropic-beta")

            async def call(p: Provider, t: Target, key: Any) -> Any:
                assert isinstance(p, AnthropicProvider)
                return await p.count_tokens(dict(body), t.model, key, ctx, version, beta)

            result = await gw.engine.run(ctx, [target], call)
            return web.Response(
                body=orjson.dumps(result),
                content_type="application/json",
                headers={"x-request-id": record.request_id, "x-bifrost-provider": provider.name},
            )
        except GatewayError as exc:
            return anthropic_error_response(exc, ctx, gw)
        except asyncio.CancelledError:
            record.status = 499
            raise
        except Exception:
            log.exception("unexpected error serving request %s", record.request_id)
            return anthropic_error_response(
                GatewayError(500, f"internal gateway error (request id {record.request_id})"), ctx, gw
            )
        finally:
            record.latency_s = time.perf_counter() - ctx.started
            gw.finish(record)


class _AnthropicOut:
    """Stream events for the Anthropic client: native events as they came, or translated from OpenAI chunks."""

    __slots__ = ("record", "translator")

    def __init__(self, native: bool, model: str, record: Any) -> None:
        self.record = record
        self.translator = None if native else OpenAIStreamToAnthropic(model)

    def event(self, event: dict[str, Any], raw: bytes) -> bytes:
        if self.translator is None:
            _take_anthropic_usage(event, self.record)
            return raw
        usage = event.get("usage")
        if usage:
            self.record.prompt_tokens = usage.get("prompt_tokens") or 0
            self.record.completion_tokens = usage.get("completion_tokens") or 0
        return b"".join(_sse(name, data) for name, data in self.translator.feed(event))

    def end(self) -> bytes:
        return b"" if self.translator is None else b"".join(_sse(n, d) for n, d in self.translator.finish())

    def error(self, exc: GatewayError) -> bytes:
        return _sse("error", openai_error_to_anthropic(exc.status, exc.openai_error()))


def _models_body(entries: list[tuple[str, str]]) -> bytes:
    """Anthropic's model list shape; ids are `provider/model`, usable as the `model` of a request."""
    data = [
        {"type": "model", "id": f"{p}/{m}", "display_name": m, "created_at": "1970-01-01T00:00:00Z"}
        for p, m in entries
    ]
    return orjson.dumps(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


def _prompt_tokens(usage: dict[str, Any]) -> int:
    """Anthropic usage -> prompt tokens in OpenAI's sense (what metrics and pricing count): cache reads and
    cache writes are both prompt tokens, as on the OpenAI routes (see translate.py's usage rule)."""
    return (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )


def _take_anthropic_usage(event: dict[str, Any], record: Any) -> None:
    etype = event.get("type")
    if etype == "message_start":
        usage = (event.get("message") or {}).get("usage") or {}
        record.prompt_tokens = _prompt_tokens(usage)
        record.cached_tokens = usage.get("cache_read_input_tokens") or 0
        record.cache_write_tokens = usage.get("cache_creation_input_tokens") or 0
    elif etype == "message_delta":
        usage = event.get("usage") or {}
        record.completion_tokens = usage.get("output_tokens") or record.completion_tokens
