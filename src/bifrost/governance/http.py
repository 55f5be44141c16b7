"""Governance on the HTTP side: one middleware in front of every inference route, and the admin API.

Deny by default: every route is an inference route (identified, counted, limited) unless it is listed in
:func:`inference_wire` as exempt: ``/health``, ``/metrics``, the admin API under ``/api/``, model lists and
the unknown-route answer. A route added later is governed without doing anything, so no route can bypass
the limits. The middleware exists only when governance is configured; otherwise requests never meet it.

Refusals are answered in the wire of the route (OpenAI, Anthropic or Google error shape); the
``x-ratelimit-*`` headers are added to every answer, streams included, just before its headers go out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import request_id
from bifrost.governance.governor import Gate, Governor, Refusal
from bifrost.integrations.anthropic import openai_error_to_anthropic
from bifrost.integrations.genai import genai_error
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


def governance_middleware(governor: Governor) -> Any:
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
        try:
            gate = await governor.admit(governor.identify(request.headers), request.content_length or 0)
        except Refusal as exc:
            return refusal_response(exc, wire, request_id(request.headers))
        request[GATE_KEY] = gate
        try:
            return await handler(request)
        finally:
            await governor.finish(gate)

    return governance


async def add_ratelimit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the key's x-ratelimit-* headers on every answer, streams included."""
    gate: Gate | None = request.get(GATE_KEY)
    if gate is not None and gate.headers:
        response.headers.update(gate.headers)
