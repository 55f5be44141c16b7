"""The few aiohttp internals the gateway relies on, where aiohttp offers no public API. If an aiohttp
release renames one, this fails here, loudly, instead of a guard silently doing nothing.

- ``server/admin_auth.protect``: a route's handler is replaced (``route._handler``) to put every /api/ route
  behind the admin credential without a per-request middleware (start-up also refuses to run if it fails).
- ``server/connections``: the header-read deadline wraps each connection's protocol (``runner._server``)
  and reads aiohttp's per-connection request state (``_current_request``, ``_messages``, ``_request_count``).

(The /metrics renderer reads prometheus_client internals: tests/observability/test_exposition.py.)
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bifrost.config.model import AuthConfig
from bifrost.server.admin_auth import AdminGuard, protect


def _slots(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}


def test_request_handler_state_the_head_deadline_reads() -> None:
    assert {"_current_request", "_messages", "_request_count"} <= _slots(RequestHandler)


async def test_the_runner_server_can_be_wrapped() -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        assert runner._server is runner.server and runner.server is not None
    finally:
        await runner.cleanup()


def test_a_route_handler_can_be_replaced() -> None:
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/x", handler)
    guard = protect(app, AuthConfig(is_enabled=True, admin_username="a", admin_password="b"), "127.0.0.1")
    assert isinstance(guard, AdminGuard)
    route = next(iter(app.router.resources()))
    handlers = [r.handler for r in route]
    assert handlers and all(h is not handler for h in handlers)  # wrapped by the guard
