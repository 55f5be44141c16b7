"""OpenAI wire in and out: /v1, /openai/v1 and /openai prefixes (CONTRACT §3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import RequestContext, Target, request_id
from bifrost.core.errors import GatewayError, bad_request
from bifrost.observability.record import RequestRecord
from bifrost.providers.base import PASSED, ChatStream, Provider
from bifrost.server.gateway import Gateway, json_answer
from bifrost.server.relay import Gathered
from bifrost.server.routes.mcp import chat_asker, continue_agent, prepare_chat

log = logging.getLogger("bifrost")

PREFIXES = ("/v1", "/openai/v1", "/openai")
GATEWAY_ONLY_FIELDS = ("fallbacks",)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_DONE = b"data: [DONE]\n\n"
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}


def extra_fields(record: RequestRecord, ctx: RequestContext) -> dict[str, Any]:
    fields = {
        "provider": record.provider,
        "model_requested": record.model_requested,
        "latency_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
        "retries": record.retries,
        "fallback_index": record.fallback_index,
    }
    if ctx.mcp is not None:
        fields["mcp_agent"] = ctx.mcp.summary()
    return fields


def error_response(exc: GatewayError, ctx: RequestContext, gw: Gateway) -> web.Response:
    headers = gw.failed(exc, ctx)
    record = ctx.record
    fields = extra_fields(record, ctx)
    if record.attempts:
        fields["attempts"] = [
            {"provider": a.provider, "model": a.model, "key": a.key_name, "status": a.status, "error": a.error}
            for a in record.attempts
        ]
    body = orjson.dumps({"error": exc.openai_error(), "extra_fields": fields})
    return web.Response(status=exc.status, body=body, headers=headers)


def _check_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if messages is None:
        raise bad_request(
            '\'messages\' is required: a list such as [{"role": "user", "content": "Hello"}]',
            param="messages",
        )
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list of message objects", param="messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise bad_request(
                f"messages[{i}] must be an object with 'role' and 'content'", param=f"messages[{i}]"
            )
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise bad_request(
                f"messages[{i}].role must be one of system, developer, user, assistant, tool (got {role!r})",
                param=f"messages[{i}].role",
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise bad_request(
                f"messages[{i}].content must be a string or a list of content parts",
                param=f"messages[{i}].content",
            )
    _check_common(body)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise bad_request("'tools' must be a list of tool objects", param="tools")


def _check_common(body: dict[str, Any]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", param="stream")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise bad_request(f"'{name}' must be a positive integer", param=name)
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= 2
    ):
        raise bad_request("'temperature' must be a number between 0 and 2", param="temperature")


def _check_completion(body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if prompt is None:
        raise bad_request("'prompt' is required: a string or a list of strings", param="prompt")
    if not isinstance(prompt, str | list):
        raise bad_request("'prompt' must be a string or a list of strings", param="prompt")
    _check_common(body)


def _check_embeddings(body: dict[str, Any]) -> None:
    value = body.get("input")
    if value is None:
        raise bad_request("'input' is required: a string or a list of strings", param="input")
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        raise bad_request("'input' must be a non-empty string or list", param="input")


_CHECKS = {"chat": _check_chat, "text": _check_completion, "embedding": _check_embeddings}
_OPERATIONS = {"chat": "chat", "text": "text_completion", "embedding": "embeddings"}  # Provider methods


class OpenAIRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        for prefix in PREFIXES:
            app.router.add_post(prefix + "/chat/completions", self.chat)
            app.router.add_post(prefix + "/completions", self.completions)
            app.router.add_post(prefix + "/embeddings", self.embeddings)
            app.router.add_get(prefix + "/models", self.models)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "text")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "embedding")

    async def models(self, request: web.Request) -> web.Response:
        catalog = self.gw.catalog
        await catalog.current()
        headers = {"x-request-id": request_id(request.headers)}
        body = catalog.render("openai", _models_body)
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def _serve(self, request: web.Request, method: str) -> web.StreamResponse:
        gw = self.gw
        ctx = gw.context(request, "openai", method)
        record = ctx.record
        gw.observer.request_started(method)
        try:
            body = await gw.read_json(request)
            _CHECKS[method](body)
            record.model_requested = body.get("model")
            fallbacks = body.pop("fallbacks", None)
            targets = gw.router.targets(body.get("model"), "openai", fallbacks)
            stream = ctx.stream = method != "embedding" and body.get("stream") is True
            record.stream = stream
            if gw.content_logging:
                record.request_body = body
            if gw.mcp is not None and method == "chat":
                body, ctx.mcp = prepare_chat(gw.mcp, body, request.headers)
            # the relay needs only the bytes, usage, errors and the end: runs of ordinary events pass unparsed
            ctx.raw_stream = stream and ctx.mcp is None and not gw.content_logging
            operation = _OPERATIONS[method]

            def call(provider: Provider, target: Target, key: Any) -> Awaitable[Any]:
                return getattr(provider, operation)(body, target.model, key, ctx)  # no extra coroutine frame

            result = await gw.engine.run(ctx, targets, call)
            if ctx.mcp is not None:
                result = await continue_agent(ctx.mcp, result, chat_asker(gw, ctx, targets))
            if isinstance(result, ChatStream):
                return await self._relay(gw, request, ctx, result)
            return self._answer(gw, ctx, result)
        except GatewayError as exc:
            return error_response(exc, ctx, gw)
        except asyncio.CancelledError:
            record.status = 499  # the client went away; its upstream call was cancelled with it
            raise
        except Exception:
            log.exception("unexpected error serving request %s", record.request_id)
            return error_response(
                GatewayError(500, f"internal gateway error (request id {record.request_id})"), ctx, gw
            )
        finally:
            record.latency_s = time.perf_counter() - ctx.started
            gw.finish(record)

    def _answer(self, gw: Gateway, ctx: RequestContext, resp: dict[str, Any]) -> web.Response:
        record = ctx.record
        usage = resp.get("usage")
        if isinstance(usage, dict):
            _take_usage(record, usage)
        if gw.content_logging:
            record.response_content = _answer_text(resp)
        resp["extra_fields"] = extra_fields(record, ctx)
        return json_answer(record, resp)

    async def _relay(
        self, gw: Gateway, request: web.Request, ctx: RequestContext, stream: ChatStream
    ) -> web.StreamResponse:
        """Forward chunks as they arrive; a failure after the first byte ends with an error event."""
        record = ctx.record
        response = web.StreamResponse(
            headers={**_SSE_HEADERS, "x-request-id": record.request_id, "x-bifrost-provider": stream.provider}
        )
        chunks = 0
        first = last = 0.0
        texts: list[str] | None = [] if gw.content_logging else None
        tail = b""
        gathered = Gathered(response)
        add = gathered.add
        try:
            await response.prepare(request)
            with gathered:
                async for chunk, raw in stream:
                    add(raw)
                    last = time.perf_counter()
                    if not chunks:
                        first = last
                        record.ttft_s = first - ctx.started
                    if chunk is PASSED:  # a run of ordinary events, passed on unread
                        chunks += raw.count(b"\n\n")
                        continue
                    chunks += 1
                    if not chunk:  # an SSE comment (MCP agent progress): out now, not with the next read
                        await gathered.flush()
                        continue
                    usage = chunk.get("usage")
                    if usage:
                        _take_usage(record, usage)
                    if texts is not None:
                        _collect_text(chunk, texts)
            tail = _DONE  # sent with the end of the response: one write, not two
        except GatewayError as exc:
            gw.failed(exc, ctx)  # the stream's headers are sent: the error goes in an event
            tail = b"data: " + orjson.dumps({"error": exc.openai_error()}) + b"\n\n" + _DONE
        except ConnectionError:
            record.status = 499  # the client went away mid-stream
            return response
        finally:
            await stream.aclose()
            if stream.usage and not (record.prompt_tokens or record.completion_tokens):
                _take_usage(record, stream.usage)
            record.stream_chunks = chunks
            record.stream_duration_s = last - first
            if texts:
                record.response_content = "".join(texts)
        with contextlib.suppress(ConnectionError):
            await response.write_eof(gathered.rest(tail))
        return response


def _models_body(entries: list[tuple[str, str]]) -> bytes:
    data = [{"id": f"{p}/{m}", "object": "model", "created": 0, "owned_by": p} for p, m in entries]
    return orjson.dumps({"object": "list", "data": data})


def _take_usage(record: RequestRecord, usage: dict[str, Any]) -> None:
    record.prompt_tokens = usage.get("prompt_tokens") or 0
    record.completion_tokens = usage.get("completion_tokens") or 0
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        record.cached_tokens = details.get("cached_tokens") or 0


def _answer_text(resp: dict[str, Any]) -> str | None:
    choices = resp.get("choices")
    if not choices:
        return None
    first = choices[0]
    message = first.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        return content if isinstance(content, str) else None
    text = first.get("text")
    return text if isinstance(text, str) else None


def _collect_text(chunk: dict[str, Any], texts: list[str]) -> None:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta")
        piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(piece, str):
            texts.append(piece)
