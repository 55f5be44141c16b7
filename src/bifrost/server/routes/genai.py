"""Gemini wire in and out: the ``/genai`` drop-in for the ``google-genai`` SDK (CONTRACT §3).

``POST /genai/{v1beta|v1}/models/{model}:{generateContent|streamGenerateContent|countTokens|embedContent|
batchEmbedContents}`` and ``GET /genai/{v1beta|v1}/models[/{model}]``. ``{model}`` may carry a provider prefix
(``openai/gpt-4o``); a bare model goes to the ``gemini`` provider unless a key of another provider lists it.
A Gemini model is served natively (body and stream events passed through); any other provider is reached
through the canonical OpenAI shape (`bifrost.integrations.genai`) and translated back, streaming included.
``countTokens`` exists only for Gemini models (400 otherwise). Errors are in Google's shape. The client's
``x-goog-api-key`` is used upstream only with ``client.allow_direct_keys`` (as ``Authorization`` is on the
other routes).
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
from bifrost.integrations.genai import (
    OpenAIStreamToGenai,
    TranslationError,
    genai_embed_to_openai,
    genai_error,
    genai_request_to_openai,
    openai_embeddings_to_genai,
    openai_response_to_genai,
)
from bifrost.mcp.agent import AgentRun
from bifrost.mcp.inject import inject_chat, inject_genai, select_tools
from bifrost.providers.base import ChatStream, Provider
from bifrost.server.gateway import Gateway, json_answer
from bifrost.server.relay import relay
from bifrost.server.routes.mcp import chat_asker, continue_agent

log = logging.getLogger("bifrost")

_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")
_CHAT_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


def genai_error_response(exc: GatewayError, ctx: RequestContext, gw: Gateway) -> web.Response:
    headers = gw.failed(exc, ctx)
    return web.Response(status=exc.status, body=orjson.dumps(genai_error(exc.status, exc.message)), headers=headers)


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\r\n\r\n"


def _split(tail: str) -> tuple[str, str]:
    model, sep, action = tail.rpartition(":")
    if not sep or action not in _ACTIONS:
        raise GatewayError(
            404,
            f"Unknown method {action or tail!r}: use models/{{model}}:" + ", :".join(_ACTIONS),
            code="route_not_found",
        )
    model = model.removeprefix("models/")
    if not model:
        raise bad_request("the model is missing from the path (models/{model}:" + action + ")", param="model")
    return model, action


def _models_body(entries: list[tuple[str, str]]) -> bytes:
    models = [
        {"name": f"models/{p}/{m}", "baseModelId": m, "displayName": m,
         "supportedGenerationMethods": ["embedContent", "batchEmbedContents"] if "embed" in m else _CHAT_METHODS}
        for p, m in entries
    ]
    return orjson.dumps({"models": models})


class GenaiRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        for version in ("v1beta", "v1"):
            app.router.add_post(f"/genai/{version}/models/{{tail:.+}}", self.serve)
            app.router.add_get(f"/genai/{version}/models", self.models)
            app.router.add_get(f"/genai/{version}/models/{{tail:.+}}", self.model)

    async def models(self, request: web.Request) -> web.Response:
        catalog = self.gw.catalog
        await catalog.current()
        return web.Response(body=catalog.render("genai", _models_body), content_type="application/json")

    async def model(self, request: web.Request) -> web.Response:
        catalog = self.gw.catalog
        entries = await catalog.current()
        wanted = request.match_info["tail"].removeprefix("models/")
        for provider, model in entries:
            if wanted in (f"{provider}/{model}", model):
                body = orjson.loads(_models_body([(provider, model)]))["models"][0]
                return web.Response(body=orjson.dumps(body), content_type="application/json")
        body = genai_error(404, f"models/{wanted} is not found in Bifrost's model list")
        return web.Response(status=404, body=orjson.dumps(body), content_type="application/json")

    async def serve(self, request: web.Request) -> web.StreamResponse:
        gw = self.gw
        ctx = gw.context(request, "genai", "chat")
        record = ctx.record
        gw.observer.request_started("chat")
        try:
            model, action = _split(request.match_info["tail"])
            if gw.allow_direct_keys and request.headers.get("x-goog-api-key"):
                ctx.direct_key = request.headers["x-goog-api-key"]
            body = await gw.read_json(request)
            record.model_requested = model
            if action in ("embedContent", "batchEmbedContents"):
                record.method = "embedding"
            targets = gw.router.targets(model, "gemini", body.pop("fallbacks", None))
            ctx.stream = record.stream = action == "streamGenerateContent"
            if gw.content_logging:
                record.request_body = body
            mcp_tools: tuple[Any, ...] = ()
            if gw.mcp is not None and action in ("generateContent", "streamGenerateContent"):
                mcp_tools = select_tools(gw.mcp.registry, request.headers)
            call = self._call(gw, action, body, model, ctx, targets, mcp_tools)
            result = await gw.engine.run(ctx, targets, call)
            native = gw.providers[record.provider or ""].wire == "gemini" and ctx.mcp is None
            if ctx.mcp is not None:
                result = await continue_agent(ctx.mcp, result, chat_asker(gw, ctx, targets))
            if isinstance(result, ChatStream):
                return await relay(gw, request, ctx, result, _GenaiOut(native, record.model or model, record))
            if not native:
                if action in ("embedContent", "batchEmbedContents"):
                    result = openai_embeddings_to_genai(result, action == "batchEmbedContents")
                else:
                    result = openai_response_to_genai(result, record.model or model)
            _take_usage(result.get("usageMetadata"), record)
            return json_answer(record, result)
        except GatewayError as exc:
            return genai_error_response(exc, ctx, gw)
        except asyncio.CancelledError:
            record.status = 499
            raise
        except Exception:
            log.exception("unexpected error serving request %s", record.request_id)
            return genai_error_response(
                GatewayError(500, f"internal gateway error (request id {record.request_id})"), ctx, gw
            )
        finally:
            record.latency_s = time.perf_counter() - ctx.started
            gw.finish(record)

    def _call(
        self,
        gw: Gateway,
        action: str,
        body: dict[str, Any],
        model: str,
        ctx: RequestContext,
        targets: list[Target],
        mcp_tools: tuple[Any, ...] = (),
    ) -> Any:
        """The engine's per-attempt call: native for Gemini, through the canonical shape for the others.

        MCP tools (when configured) go into the native body as `functionDeclarations` and into the canonical
        request as function tools; in agent mode every target, Gemini included, is served on the canonical
        shape (the loop works on it)."""
        canonical: dict[str, Any] | None = None
        agent = bool(mcp_tools) and any(t.auto for t in mcp_tools)
        if agent or any(gw.providers[t.provider].wire != "gemini" for t in targets):
            try:
                if action == "countTokens":
                    raise TranslationError(
                        f"countTokens is only available for Gemini models; {model} is served by "
                        f"{targets[0].provider}", "model")
                if action in ("embedContent", "batchEmbedContents"):
                    canonical = genai_embed_to_openai(body, model, action == "batchEmbedContents")
                else:
                    canonical = genai_request_to_openai(body, model, ctx.stream)
            except TranslationError as exc:
                raise bad_request(str(exc), param=exc.param) from None
            if mcp_tools:
                canonical = inject_chat(canonical, mcp_tools)
                if agent:
                    assert gw.mcp is not None
                    ctx.mcp = AgentRun(gw.mcp, mcp_tools, canonical)
        native_body = inject_genai(body, mcp_tools) if mcp_tools else body

        async def call(provider: Provider, target: Target, key: Any) -> Any:
            native = getattr(provider, "native", None)
            if provider.wire == "gemini" and native is not None and not agent:
                return await native(action, dict(native_body), target.model, key, ctx)
            assert canonical is not None
            request = {**canonical, "model": target.model}
            if action in ("embedContent", "batchEmbedContents"):
                return await provider.embeddings(request, target.model, key, ctx)
            return await provider.chat(provider.adapt_translated(request, target.model), target.model, key, ctx)

        return call



class _GenaiOut:
    """Stream events for the google-genai client: Gemini's own as they came, or translated from OpenAI chunks."""

    __slots__ = ("record", "translator")

    def __init__(self, native: bool, model: str, record: Any) -> None:
        self.record = record
        self.translator = None if native else OpenAIStreamToGenai(model)

    def event(self, event: dict[str, Any], raw: bytes) -> bytes:
        if self.translator is None:
            _take_usage(event.get("usageMetadata"), self.record)
            return raw
        if not event:
            return b""  # MCP agent progress (an SSE comment): google-genai's stream parser rejects comments
        return b"".join(_sse(chunk) for chunk in self.translator.feed(event))

    def end(self) -> bytes:
        if self.translator is None:
            return b""
        closing = self.translator.finish()
        _take_usage(closing[-1].get("usageMetadata"), self.record)
        return b"".join(_sse(chunk) for chunk in closing)

    def error(self, exc: GatewayError) -> bytes:
        return _sse(genai_error(exc.status, exc.message))


def _take_usage(meta: Any, record: Any) -> None:
    if not isinstance(meta, dict):
        return
    record.prompt_tokens = meta.get("promptTokenCount") or 0
    record.completion_tokens = (meta.get("candidatesTokenCount") or 0) + (meta.get("thoughtsTokenCount") or 0)
    record.cached_tokens = meta.get("cachedContentTokenCount") or 0
