"""The OpenAI Responses API on /v1, /openai/v1 and /openai (CONTRACT §3).

A provider with the Responses API (``"responses": "native"``) gets the request passed through (only
`model` rewritten, stream events piped byte for byte); every other provider is reached through the
canonical chat shape (`bifrost.responses.translate`). Both go through the same engine as chat: keys,
retries, fallbacks, queues, metrics, cost and the log store.

State: every response served with ``store`` not false is kept in the `ResponseStore` (its input and
output items) for ``responses_store.ttl``. A later ``previous_response_id`` is chained upstream by id when
the same native provider stored it, else the stored turns are expanded into ``input``; so conversations
continue across providers (fallbacks included).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import RequestContext, Target
from bifrost.core.errors import GatewayError, bad_request
from bifrost.mcp.agent import AgentRun
from bifrost.mcp.inject import inject_chat, inject_responses, select_tools
from bifrost.observability.record import RequestRecord
from bifrost.providers.base import ChatStream, Provider
from bifrost.responses.store import ResponseStore, StoredResponse
from bifrost.responses.stream import ChatToResponsesStream
from bifrost.responses.translate import (
    ResponsesTranslationError,
    chat_response_to_responses,
    error_code,
    input_items,
    new_id,
    output_text,
    responses_request_to_chat,
)
from bifrost.server.gateway import GATE_KEY, Gateway, json_answer
from bifrost.server.relay import Gathered
from bifrost.server.routes.mcp import chat_asker, continue_agent
from bifrost.server.routes.openai import PREFIXES, error_response, extra_fields

log = logging.getLogger("bifrost")

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}
_ITEM_ID_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}


def is_native(provider: Provider) -> bool:
    return provider.config.responses == "native" and hasattr(provider, "responses")


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + str(event.get("type")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _with_ids(items: list[Any]) -> list[dict[str, Any]]:
    """Input items as input_items lists them: objects with a type and an id."""
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or "message"
        if item.get("id") and item.get("type"):
            out.append(item)
            continue
        fixed = {"type": kind, **item, "id": item.get("id") or new_id(_ITEM_ID_PREFIX.get(kind, "item_"))}
        if kind == "message" and isinstance(fixed.get("content"), str):
            part = "output_text" if fixed.get("role") == "assistant" else "input_text"
            fixed["content"] = [{"type": part, "text": fixed["content"]}]
        out.append(fixed)
    return out


def _for_openai(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expanded earlier turns for a native upstream: no item ids (it never saw them), no foreign reasoning."""
    out = []
    for item in items:
        if item.get("type") == "reasoning":
            continue
        clean = {k: v for k, v in item.items() if k != "id" and not (k == "status" and item.get("type") == "message")}
        out.append(clean)
    return out


def _check(body: dict[str, Any]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", param="stream")
    value = body.get("input")
    if value is not None and not isinstance(value, str | list):
        raise bad_request("'input' must be a string or a list of input items", param="input")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise bad_request("'previous_response_id' must be a response id string", param="previous_response_id")
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise bad_request("'max_output_tokens' must be a positive integer", param="max_output_tokens")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise bad_request("'tools' must be a list of tool objects", param="tools")


def _to_chat(body: dict[str, Any], provider: str) -> dict[str, Any]:
    try:
        return responses_request_to_chat(body, provider)
    except ResponsesTranslationError as exc:
        raise bad_request(exc.message, param=exc.param) from None


def _take_usage(record: RequestRecord, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    record.prompt_tokens = usage.get("input_tokens") or 0
    record.completion_tokens = usage.get("output_tokens") or 0
    details = usage.get("input_tokens_details")
    if isinstance(details, dict):
        record.cached_tokens = details.get("cached_tokens") or 0


def _answers_errors(
    handler: Callable[[ResponsesRoutes, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[ResponsesRoutes, web.Request], Awaitable[web.StreamResponse]]:
    """A GatewayError raised by a stored-response route becomes its OpenAI-shaped answer."""

    @functools.wraps(handler)
    async def answer(self: ResponsesRoutes, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except GatewayError as exc:
            return self._error(request, exc)

    return answer


class ResponsesRoutes:
    def __init__(self, gateway: Gateway, store: ResponseStore) -> None:
        self.gw = gateway
        self.store = store

    def register(self, app: web.Application) -> None:
        for prefix in PREFIXES:
            app.router.add_post(prefix + "/responses", self.create)
            app.router.add_post(prefix + "/responses/input_tokens", self.input_tokens)
            app.router.add_get(prefix + "/responses/{id}", self.retrieve)
            app.router.add_delete(prefix + "/responses/{id}", self.delete)
            app.router.add_post(prefix + "/responses/{id}/cancel", self.cancel)
            app.router.add_get(prefix + "/responses/{id}/input_items", self.list_input_items)

    # -- POST /responses ---------------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.StreamResponse:
        gw = self.gw
        ctx = gw.context(request, "openai", "responses")
        record = ctx.record
        gw.observer.request_started("responses")
        try:
            body = await gw.read_json(request)
            _check(body)
            record.model_requested = body.get("model")
            targets = gw.router.targets(body.get("model"), "openai", body.pop("fallbacks", None))
            ctx.stream = record.stream = body.get("stream") is True
            if gw.content_logging:
                record.request_body = body
            try:
                this_input = _with_ids(input_items(body.get("input")))
            except ResponsesTranslationError as exc:
                raise bad_request(exc.message, param=exc.param) from None
            previous = body.get("previous_response_id")
            prev = await self._stored(request, previous) if previous else None
            if previous and prev is None and not any(is_native(gw.providers[t.provider]) for t in targets):
                raise GatewayError(
                    400,
                    f"Previous response with id '{previous}' not found (the gateway keeps responses for "
                    "responses_store.ttl; a response created with store: false is not kept).",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            history = prev.conversation() if prev is not None else []
            response_id = new_id("resp_")
            expanded = body
            if prev is not None:
                expanded = {k: v for k, v in body.items() if k != "previous_response_id"}
                expanded["input"] = [*history, *this_input]

            mcp_tools: tuple[Any, ...] = ()
            agent = False
            if gw.mcp is not None:
                mcp_tools = select_tools(gw.mcp.registry, request.headers)
                # agent mode runs on the canonical (chat) shape for every target, native ones included
                agent = gw.mcp.registry.has_auto and any(t.auto for t in mcp_tools)
                if agent:
                    assert gw.mcp is not None
                    if previous and prev is None:
                        raise GatewayError(
                            400,
                            f"Previous response with id '{previous}' not found in the gateway's store; with MCP "
                            "agent mode (tools_to_auto_execute) the conversation is expanded by the gateway, so "
                            "it must have been served through the gateway with store not false.",
                            param="previous_response_id",
                            code="previous_response_not_found",
                        )
                    canonical = inject_chat(_to_chat(expanded, targets[0].provider), mcp_tools)
                    ctx.mcp = AgentRun(gw.mcp, mcp_tools, canonical)

            async def call(provider: Provider, target: Target, key: Any) -> Any:
                if ctx.mcp is not None:
                    return await provider.chat(dict(ctx.mcp.body), target.model, key, ctx)
                if is_native(provider):
                    upstream = body
                    if prev is not None and not (prev.native and prev.provider == provider.name):
                        upstream = {**expanded, "input": _for_openai(expanded["input"])}
                    if mcp_tools:
                        upstream = inject_responses(upstream, mcp_tools)
                    return await provider.responses(dict(upstream), target.model, key, ctx)  # type: ignore[attr-defined]
                chat = _to_chat(expanded, provider.name)
                if mcp_tools:
                    chat = inject_chat(chat, mcp_tools)
                return await provider.chat(chat, target.model, key, ctx)

            result = await gw.engine.run(ctx, targets, call)
            if ctx.mcp is not None:
                result = await continue_agent(ctx.mcp, result, chat_asker(gw, ctx, targets))
            provider = gw.providers[record.provider or ""]
            native = is_native(provider) and not agent
            keep = body.get("store") is not False

            def stored(resp: dict[str, Any]) -> StoredResponse | None:
                if not keep or not isinstance(resp.get("id"), str):
                    return None
                return StoredResponse(resp, this_input, history, provider.name, native, _owner(request))

            if isinstance(result, ChatStream):
                return await self._relay(gw, request, ctx, result, body, response_id, native, stored)
            resp = result if native else chat_response_to_responses(result, body, response_id, record.model or "")
            _take_usage(record, resp.get("usage"))
            if gw.content_logging:
                record.response_content = output_text(resp)
            entry = stored(resp)
            if entry is not None:
                await self.store.put(entry)
            resp["extra_fields"] = extra_fields(record, ctx)
            return json_answer(record, resp)
        except GatewayError as exc:
            return error_response(exc, ctx, gw)
        except asyncio.CancelledError:
            record.status = 499
            raise
        except Exception:
            log.exception("unexpected error serving request %s", record.request_id)
            return error_response(
                GatewayError(500, f"internal gateway error (request id {record.request_id})"), ctx, gw
            )
        finally:
            record.latency_s = time.perf_counter() - ctx.started
            gw.finish(record)

    async def _relay(
        self,
        gw: Gateway,
        request: web.Request,
        ctx: RequestContext,
        stream: ChatStream,
        body: dict[str, Any],
        response_id: str,
        native: bool,
        stored: Any,
    ) -> web.StreamResponse:
        """Stream events out as they come; a failure after the start ends with response.failed + error."""
        record = ctx.record
        response = web.StreamResponse(
            headers={**_SSE_HEADERS, "x-request-id": record.request_id, "x-bifrost-provider": stream.provider}
        )
        translator = None if native else ChatToResponsesStream(body, response_id, record.model or stream.model)
        texts: list[str] | None = [] if gw.content_logging else None
        final: dict[str, Any] | None = None
        upstream_id = response_id
        sequence = 0
        chunks = 0
        first = last = 0.0
        tail = b""
        gathered = Gathered(response)
        try:
            await response.prepare(request)
            if translator is not None:
                gathered.add(b"".join(_sse(e) for e in translator.start()))
            with gathered:
                async for event, raw in stream:
                    if translator is None:
                        kind = event.get("type")
                        if kind in ("response.failed", "error"):
                            raw = _scrub(gw, raw, ctx)  # an upstream's error text never carries a secret out
                        gathered.add(raw)
                        number = event.get("sequence_number")
                        sequence = number if isinstance(number, int) else sequence
                        if kind == "response.created" and isinstance(event.get("response"), dict):
                            upstream_id = event["response"].get("id") or upstream_id
                        elif kind in ("response.completed", "response.incomplete"):
                            final = event.get("response") if isinstance(event.get("response"), dict) else None
                        elif kind in ("response.failed", "error"):
                            failed = event.get("response", {}).get("error") if kind == "response.failed" else event
                            message = str((failed or {}).get("message") or "upstream response failed")
                            gw.failed(GatewayError(502, message, provider=stream.provider), ctx)
                        elif texts is not None and kind == "response.output_text.delta":
                            texts.append(str(event.get("delta") or ""))
                    elif not event:
                        gathered.add(raw)  # an SSE comment (MCP agent progress): out now, not with the next read
                        await gathered.flush()
                        continue
                    else:
                        out = translator.feed(event)
                        if out:
                            gathered.add(b"".join(_sse(e) for e in out))
                        if texts is not None:
                            for choice in event.get("choices") or ():
                                piece = (choice.get("delta") or {}).get("content")
                                if isinstance(piece, str):
                                    texts.append(piece)
                    last = time.perf_counter()
                    if not chunks:
                        first = last
                        record.ttft_s = first - ctx.started
                    chunks += 1
            if translator is not None:
                done = translator.finish(stream.usage)
                final = translator.response
                tail = b"".join(_sse(e) for e in done)
        except GatewayError as exc:
            gw.failed(exc, ctx)
            if translator is not None:
                events = translator.fail(exc.status, exc.message)
            else:
                events = _native_failure(upstream_id, sequence + 1, exc, body, record.model or stream.model)
            tail = b"".join(_sse(e) for e in events)
        except ConnectionError:
            record.status = 499
            return response
        finally:
            await stream.aclose()
            record.stream_chunks = chunks
            record.stream_duration_s = last - first
            if texts:
                record.response_content = "".join(texts)
        if final is not None:
            _take_usage(record, final.get("usage"))
            entry = stored(final)
            if entry is not None:
                await self.store.put(entry)
        with contextlib.suppress(ConnectionError):
            await response.write_eof(gathered.rest(tail))
        return response

    # -- the stored-response routes -----------------------------------------------------------------------
    @_answers_errors
    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["id"]
        stored = await self._stored(request, response_id)
        if stored is not None and not stored.native:
            if request.query.get("stream") == "true":
                return self._error(request, bad_request(
                    "stream=true resumes only responses served by a provider with the Responses API; this one "
                    f"was served by {stored.provider}: retrieve it without stream", param="stream"))
            return _json(stored.response)
        return await self._upstream(request, stored, "retrieve")

    @_answers_errors
    async def list_input_items(self, request: web.Request) -> web.StreamResponse:
        stored = await self._stored(request, request.match_info["id"])
        if stored is None or stored.native:
            return await self._upstream(request, stored, "input_items")
        items = list(stored.input)
        if request.query.get("order", "desc") != "asc":
            items.reverse()
        after = request.query.get("after")
        if after:
            ids = [i.get("id") for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        try:
            limit = max(1, min(100, int(request.query.get("limit", "20"))))
        except ValueError:
            return self._error(request, bad_request("'limit' must be an integer between 1 and 100", param="limit"))
        page = items[:limit]
        return _json({
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        })

    @_answers_errors
    async def delete(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["id"]
        stored = await self._stored(request, response_id)
        if stored is not None:
            await self.store.delete(response_id)
            if not stored.native:
                return _json({"id": response_id, "object": "response", "deleted": True})
        return await self._upstream(request, stored, "delete")

    @_answers_errors
    async def cancel(self, request: web.Request) -> web.StreamResponse:
        stored = await self._stored(request, request.match_info["id"])
        if stored is not None and not stored.native:
            return self._error(request, bad_request(
                "Only responses created with background: true can be cancelled; this one has already finished."))
        return await self._upstream(request, stored, "cancel")

    async def input_tokens(self, request: web.Request) -> web.StreamResponse:
        return await self._upstream(request, None, "input_tokens")

    async def _stored(self, request: web.Request, response_id: str) -> StoredResponse | None:
        """The stored response if the caller may see it: one a virtual key created is that key's alone (another
        caller gets the 404 an unknown id gets, and the id is not looked up upstream either)."""
        stored = await self.store.get(response_id)
        if stored is not None and stored.owner != _owner(request):
            raise GatewayError(404, f"No response found with id '{response_id}'.", code="not_found")
        return stored

    async def _upstream(self, request: web.Request, stored: StoredResponse | None, method: str) -> web.StreamResponse:
        """Ask the provider that has the response (or x-bf-provider / the model's provider / openai)."""
        from bifrost.server.routes.passthrough import forward_request

        return await forward_request(self.gw, request, "responses." + method, stored.provider if stored else None)

    def _error(self, request: web.Request, exc: GatewayError) -> web.Response:
        gw = self.gw
        ctx = gw.context(request, "openai", "responses")
        gw.active -= 1  # a context for the error's shape only: not observed, so not finished either
        return error_response(exc, ctx, gw)


def _scrub(gw: Gateway, raw: bytes, ctx: RequestContext) -> bytes:
    secrets = (*gw.secrets, ctx.direct_key) if ctx.direct_key else gw.secrets
    for secret in secrets:
        token = secret.encode()
        if token in raw:
            raw = raw.replace(token, b"***")
    return raw


def _json(data: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(data), content_type="application/json")


def _native_failure(
    response_id: str, sequence: int, exc: GatewayError, body: dict[str, Any], model: str
) -> list[dict[str, Any]]:
    """A native stream that broke off: the gateway ends it itself, numbering on from the upstream's events."""
    from bifrost.responses.translate import response_skeleton

    code = error_code(exc.status)
    resp = response_skeleton(body, response_id, model)
    resp["status"] = "failed"
    resp["error"] = {"code": code, "message": exc.message}
    return [
        {"type": "response.failed", "sequence_number": sequence, "response": resp},
        {"type": "error", "sequence_number": sequence + 1, "code": code, "message": exc.message, "param": None},
    ]


def _owner(request: web.Request) -> str:
    """The virtual key's id when governance identified one, else "" (no governance, or no key required)."""
    gate = request.get(GATE_KEY)
    vk = getattr(gate, "vk", None)
    return vk.id if vk is not None else ""

