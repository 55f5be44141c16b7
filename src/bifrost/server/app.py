"""The aiohttp application: routes registered once; no per-request middleware but governance's, when configured."""

from __future__ import annotations

import orjson
from aiohttp import web

from bifrost.config.model import Config
from bifrost.core.context import request_id
from bifrost.responses.store import MemoryStore, ResponseStore, SharedStore
from bifrost.server.admin_auth import protect
from bifrost.server.gateway import Gateway, Observer
from bifrost.server.routes.openai import OpenAIRoutes
from bifrost.server.routes.passthrough import PassthroughRoutes, not_found
from bifrost.server.routes.responses import ResponsesRoutes

GATEWAY_KEY = web.AppKey("gateway", Gateway)


def create_app(config: Config, observer: Observer | None = None, bind_host: str = "127.0.0.1") -> web.Application:
    """The app; `bind_host` is the address it will listen on (it decides whether /api/* needs a credential)."""
    gateway = Gateway(config, observer)
    # aiohttp's own body limit is set to ours, so an oversized body is refused while reading it
    app = web.Application(client_max_size=gateway.max_body)
    app[GATEWAY_KEY] = gateway
    OpenAIRoutes(gateway).register(app)
    backend = SharedStore(gateway.state) if gateway.state.shared else MemoryStore()
    ResponsesRoutes(gateway, ResponseStore(backend, config.responses_store.ttl_s)).register(app)
    _register_optional_routes(app, gateway)
    from bifrost.governance import install as install_governance

    install_governance(app, gateway, observer)  # before the catch-all: its admin routes live under /api/
    PassthroughRoutes(gateway).register(app)  # after every other route under the OpenAI prefixes
    metrics = getattr(observer, "metrics", None)
    if metrics is not None:
        from bifrost.observability.routes import register_routes

        register_routes(app, metrics, getattr(observer, "store", None))
        for provider in gateway.providers.values():
            provider.queue.metrics = metrics
    app.router.add_get("/health", _health)
    app.router.add_route("*", "/{tail:.*}", _not_found)

    async def on_startup(started: web.Application) -> None:
        protect(started, config.auth_config, bind_host)  # every route is registered by now
        await gateway.start()

    async def on_cleanup(_: web.Application) -> None:
        await gateway.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def _register_optional_routes(app: web.Application, gateway: Gateway) -> None:
    """Routes of the other wires, present once their modules exist."""
    try:
        from bifrost.server.routes.anthropic import AnthropicRoutes
    except ImportError:
        pass
    else:
        AnthropicRoutes(gateway).register(app)
    from bifrost.server.routes.genai import GenaiRoutes

    GenaiRoutes(gateway).register(app)
    from bifrost.server.routes.mcp import MCPRoutes

    MCPRoutes(gateway).register(app)


async def _health(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
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
