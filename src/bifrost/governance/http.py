"""Governance on the HTTP side: one middleware in front of every inference route, and the admin API.

Deny by default: every route is an inference route (identified, counted, limited) unless it is listed in
:func:`inference_wire` as exempt: ``/health``, ``/metrics``, the admin API under ``/api/``, model lists and
the unknown-route answer. A route added later is governed without doing anything, so no route can bypass
the limits. The middleware exists only when governance is configured; otherwise requests never meet it.

Refusals are answered in the wire of the route (OpenAI, Anthropic or Google error shape) and observed
like any other failed request: an access-log line, a log-store record (status, error type, the virtual
key's id, the model when the body names it) and the request metrics. The ``x-ratelimit-*`` headers are
added to every answer, streams included, just before its headers go out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bifrost.governance.governor import Gate, Governor, Refusal
from bifrost.integrations.anthropic import openai_error_to_anthropic
from bifrost.integrations.genai import genai_error
from bifrost.server.bodies import read_body
from bifrost.server.gateway import GATE_KEY  # request[GATE_KEY]: the request's Gate

log = logging.getLogger("bifrost.governance")


EXEMPT_PATHS = frozenset({"/health", "/metrics", "/", "/favicon.ico", "/{tail}"})  # "/{tail}": unknown route
EXEMPT_PREFIXES = ("/api/", "/ui/", "/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def inference_wire(method: str, path: str) -> str | None:
    """The error wire of an inference route ("openai", "anthropic", "genai"); None for an exempt route.

    `path` is the route's canonical path (``/v1/responses/{id}``), not the request's.
    """
    if method == "OPTIONS" or path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
        return None
    if method in ("GET", "HEAD") and path.endswith("/models"):
        return None  # the list of configured models
    if path.startswith("/anthropic"):
        return "anthropic"
    if path.startswith("/genai"):
        return "genai"
    return "openai"


def refusal_response(exc: Refusal, wire: str, rid: str) -> web.Response:
    error = exc.openai_error()
    if wire == "anthropic":
        body: dict[str, Any] = openai_error_to_anthropic(exc.status, error)
        body["request_id"] = rid
    elif wire == "genai":
        body = genai_error(exc.status, exc.message)
    else:
        body = {"error": error}
    headers = {"Content-Type": "application/json", "x-request-id": rid, **exc.headers}
    if exc.retry_after is not None and exc.status in (402, 429, 503):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return web.Response(status=exc.status, body=orjson.dumps(body), headers=headers)


def governance_middleware(governor: Governor, live: Any) -> Any:
    """`live`: the app's `bifrost.server.reload.Live`, whose gateway observes refusals."""
    wires: dict[Any, str | None] = {}  # route -> its wire, decided once per route

    @web.middleware
    async def governance(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        try:
            wire = wires[route]
        except KeyError:
            resource = route.resource
            wire = wires[route] = inference_wire(route.method, resource.canonical if resource else "")
        if wire is None:
            return await handler(request)
        vk = None
        try:
            vk = governor.identify(request.headers)
            gate = await governor.admit(vk, request.content_length or 0)
        except Refusal as exc:
            return await refused(live.gateway, request, exc, wire, vk)
        request[GATE_KEY] = gate
        try:
            return await handler(request)
        finally:
            await governor.finish(gate)

    return governance


async def refused(gw: Any, request: web.Request, exc: Refusal, wire: str, vk: Any) -> web.Response:
    """Answer a refusal and observe it as a failed request (access log, log store, metrics)."""
    method = refusal_method(wire, request)
    ctx = gw.context(request, wire, method)
    record = ctx.record
    gw.observer.request_started(method)
    try:
        record.virtual_key = vk.id if vk is not None else exc.virtual_key
        if wire == "genai":
            record.model_requested = request.match_info.get("tail", "").partition(":")[0] or None
        else:
            body = await _small_body(request)
            if body is not None:
                model, stream = body.get("model"), body.get("stream")
                record.model_requested = model if isinstance(model, str) else None
                record.stream = stream is True
        gw.failed(exc, ctx)
        return refusal_response(exc, wire, record.request_id)
    finally:
        record.latency_s = time.perf_counter() - ctx.started
        gw.finish(record)


PEEK_MAX_BYTES = 65_536  # a refused request's body is read for its model name only up to this size
PEEK_TIMEOUT_S = 1.0


async def _small_body(request: web.Request) -> dict[str, Any] | None:
    """A refused request's JSON body, when it is small and arrives at once; else None (never an error)."""
    length = request.content_length
    if length is None or length > PEEK_MAX_BYTES or not request.can_read_body:
        return None
    try:
        async with asyncio.timeout(PEEK_TIMEOUT_S):
            body = orjson.loads(await read_body(request, PEEK_MAX_BYTES))  # inflated if compressed
    except Exception:
        return None
    return body if isinstance(body, dict) else None


_OPENAI_METHODS = {"chat/completions": "chat", "completions": "text", "embeddings": "embedding"}


def refusal_method(wire: str, request: web.Request) -> str:
    """The record's method (the metrics' `method` label) of a refused request, as its route would name it."""
    path = request.path
    if wire == "genai":
        return "embedding" if path.endswith(("embedContent", "batchEmbedContents")) else "chat"
    if wire == "anthropic":
        return "count_tokens" if path.endswith("/count_tokens") else "mcp" if "/mcp/" in path else "messages"
    for prefix in ("/openai/v1/", "/v1/", "/openai/"):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            if rest in _OPENAI_METHODS:
                return _OPENAI_METHODS[rest]
            parts = rest.split("/")
            if parts[0] in ("audio", "images") and len(parts) > 1:
                return f"{parts[0]}.{parts[1]}"  # as the passthrough names them
            return parts[0] or "unknown"
    return path.strip("/").split("/")[0] or "unknown"  # /mcp


async def add_ratelimit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the key's x-ratelimit-* headers on every answer, streams included."""
    gate: Gate | None = request.get(GATE_KEY)
    if gate is not None and gate.headers:
        response.headers.update(gate.headers)
