"""The aiohttp application: routes registered once; no per-request middleware but governance's, when configured.

Routes hold the serving `Gateway` as ``self.gw``; a config reload (server/reload.py) re-points them all at a
new one, so `app[LIVE_KEY].gateway` (not a gateway kept from start-up) is the one serving now."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from bifrost.config.model import Config
from bifrost.core.context import request_id
from bifrost.responses.store import MemoryStore, ResponseStore, SharedStore
from bifrost.server.admin_auth import protect
from bifrost.server.gateway import Gateway, Observer
from bifrost.server.reload import Live
from bifrost.server.routes.openai import OpenAIRoutes
from bifrost.server.routes.passthrough import PassthroughRoutes, not_found
from bifrost.server.routes.responses import ResponsesRoutes

LIVE_KEY = web.AppKey("live", Live)


def create_app(config: Config, observer: Observer | None = None, bind_host: str = "127.0.0.1") -> web.Application:
    """The app; `bind_host` is the address it will listen on (it decides whether /api/* needs a credential)."""
    gateway = Gateway(config, observer)
    # aiohttp's own body limit is set to ours, so an oversized body is refused while reading it
    app = web.Application(client_max_size=gateway.max_body)
    backend = SharedStore(gateway.state) if gateway.state.shared else MemoryStore()
    responses = ResponsesRoutes(gateway, ResponseStore(backend, config.responses_store.ttl_s))
    routes: list[Any] = [OpenAIRoutes(gateway), responses, *_optional_routes(gateway)]
    for holder in routes:
        holder.register(app)
    live = app[LIVE_KEY] = Live(gateway, routes)
    from bifrost.governance import install as install_governance

    install_governance(app, live, observer)  # before the catch-all: its admin routes live under /api/
    passthrough = PassthroughRoutes(gateway)
    passthrough.register(app)  # after every other route under the OpenAI prefixes
    live.holders.append(passthrough)
    live.hooks.append(lambda new: setattr(responses.store, "ttl_s", new.responses_store.ttl_s))
    live.hooks.append(lambda new: setattr(app, "_client_max_size", live.gateway.max_body))  # aiohttp's own limit
    metrics = getattr(observer, "metrics", None)
    if metrics is not None:
        from bifrost.observability.routes import register_routes

        register_routes(app, metrics, getattr(observer, "store", None))
        for provider in gateway.providers.values():
            provider.queue.metrics = metrics
    app.router.add_get("/health", _health)
    app.router.add_route("*", "/{tail:.*}", _not_found)

    async def on_startup(started: web.Application) -> None:
        guard = protect(started, config.auth_config, bind_host)  # every route is registered by now
        live.hooks.append(lambda new: guard.update(new.auth_config))
        await gateway.start()

    async def on_cleanup(_: web.Application) -> None:
        await live.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def _optional_routes(gateway: Gateway) -> list[Any]:
    """Routes of the other wires, present once their modules exist."""
    routes: list[Any] = []
    try:
        from bifrost.server.routes.anthropic import AnthropicRoutes
    except ImportError:
        pass
    else:
        routes.append(AnthropicRoutes(gateway))
    from bifrost.server.routes.genai import GenaiRoutes
    from bifrost.server.routes.mcp import MCPRoutes

    return [*routes, GenaiRoutes(gateway), MCPRoutes(gateway)]


async def _health(request: web.Request) -> web.Response:
    gateway = request.app[LIVE_KEY].gateway
    headers = {"x-request-id": request_id(request.headers)}
    if gateway.draining:
        return web.json_response({"status": "draining"}, status=503, dumps=_dumps, headers=headers)
    body: dict[str, object] = {"status": "ok", "providers": list(gateway.providers)}
    if gateway.mcp is not None:
        body["mcp"] = gateway.mcp.status()  # a failing MCP server never makes the gateway unhealthy
    return web.json_response(body, dumps=_dumps, headers=headers)


async def _not_found(request: web.Request) -> web.Response:
    return not_found(request)


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()
