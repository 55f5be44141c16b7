"""MCP endpoints (CONTRACT §3) and the chat routes' MCP hook.

* GET `/v1/mcp/tools`: the tools a request would get (include headers applied), each as an OpenAI function
  definition plus its `client`, original `tool` name and `auto_execute`; `clients` shows each connection.
* POST `/v1/mcp/tool/execute`: one OpenAI `tool_call` in, `{"role": "tool", "tool_call_id", "content"}` out.
* POST `/anthropic/v1/mcp/tool/execute`: one Anthropic `tool_use` block in, a `tool_result` block out.
* GET, POST, DELETE `/mcp`: server mode (bifrost.mcp.server), built on first use.

A tool's own failure or timeout is a 200 answer whose content says what went wrong (the model reads it);
an unknown or filtered tool is a 404; a malformed call a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import RequestContext, Target, request_id
from bifrost.core.errors import GatewayError, bad_request
from bifrost.mcp.agent import Ask, continue_agent, prepare_chat
from bifrost.mcp.inject import select_tools
from bifrost.mcp.tools import MCPTool
from bifrost.providers.base import Provider
from bifrost.server.gateway import Gateway

__all__ = ["MCPRoutes", "chat_asker", "continue_agent", "prepare_chat"]


def chat_asker(gw: Gateway, ctx: RequestContext, targets: list[Target]) -> Ask:
    """One more agent round: the canonical request through the engine (same targets, retries, fallbacks)."""

    def ask(body: dict[str, Any]) -> Awaitable[Any]:
        def call(provider: Provider, target: Target, key: Any) -> Awaitable[Any]:
            return provider.chat(body, target.model, key, ctx)

        return gw.engine.run(ctx, targets, call)

    return ask


def _json(request: web.Request, body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"x-request-id": request_id(request.headers)},
    )


def _openai_error(request: web.Request, exc: GatewayError) -> web.Response:
    return _json(request, {"error": exc.openai_error()}, exc.status)


def _anthropic_error(request: web.Request, exc: GatewayError) -> web.Response:
    from bifrost.integrations.anthropic import openai_error_to_anthropic

    return _json(request, openai_error_to_anthropic(exc.status, exc.openai_error()), exc.status)


class MCPRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self._server: Any = None  # bifrost.mcp.server.MCPServerMode, built on first /mcp request

    def register(self, app: web.Application) -> None:
        for prefix in ("/v1", "/openai/v1", "/openai"):
            app.router.add_get(prefix + "/mcp/tools", self.tools)
            app.router.add_post(prefix + "/mcp/tool/execute", self.execute)
        app.router.add_post("/anthropic/v1/mcp/tool/execute", self.execute_anthropic)
        for method in ("GET", "POST", "DELETE"):
            app.router.add_route(method, "/mcp", self.server_mode)

        async def close_server(_: web.Application) -> None:
            if self._server is not None:
                await self._server.close()

        app.on_shutdown.append(close_server)

    # -- listing and execution ---------------------------------------------------------------------
    async def tools(self, request: web.Request) -> web.Response:
        mcp = self.gw.mcp
        if mcp is None:
            return _json(request, {"object": "list", "data": [], "clients": {}})
        data = [
            {**t.openai, "client": t.client, "tool": t.name, "auto_execute": t.auto}
            for t in select_tools(mcp.registry, request.headers)
        ]
        return _json(request, {"object": "list", "data": data, "clients": mcp.status()})

    async def execute(self, request: web.Request) -> web.Response:
        gw = self.gw  # the gateway of this request, to its end (a reload may swap self.gw meanwhile)
        gw.active += 1
        try:
            call = await gw.read_json(request)
            fn = call.get("function")
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise bad_request(
                    'the body must be one OpenAI tool call: {"id": "call_1", "type": "function", '
                    '"function": {"name": "CLIENT-TOOL", "arguments": "{...}"}}',
                    param="function",
                )
            args = _parse_arguments(fn.get("arguments"), "function.arguments")
            tool = _find(gw, request, fn["name"])
            outcome = await gw.mcp.execute(tool, args)
        except GatewayError as exc:
            return _openai_error(request, exc)
        finally:
            gw.active -= 1
        return _json(request, {"role": "tool", "tool_call_id": call.get("id"), "content": outcome.content})

    async def execute_anthropic(self, request: web.Request) -> web.Response:
        gw = self.gw
        gw.active += 1
        try:
            block = await gw.read_json(request)
            if block.get("type") not in (None, "tool_use") or not isinstance(block.get("name"), str):
                raise bad_request(
                    'the body must be one Anthropic tool_use block: {"type": "tool_use", "id": "toolu_1", '
                    '"name": "CLIENT-TOOL", "input": {...}}',
                    param="name",
                )
            args = block.get("input", {})
            if not isinstance(args, dict):
                raise bad_request("input: must be an object", param="input")
            tool = _find(gw, request, block["name"])
            outcome = await gw.mcp.execute(tool, args)
        except GatewayError as exc:
            return _anthropic_error(request, exc)
        finally:
            gw.active -= 1
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block.get("id"),
            "content": [{"type": "text", "text": outcome.content}],
        }
        if not outcome.ok:
            result["is_error"] = True
        return _json(request, result)

    # -- server mode ---------------------------------------------------------------------------------
    async def server_mode(self, request: web.Request) -> web.StreamResponse:
        gw = self.gw
        mcp = gw.mcp
        if mcp is None:
            return _openai_error(
                request,
                GatewayError(404, "MCP server mode needs at least one MCP client in mcp.client_configs",
                             code="mcp_not_configured")
            )
        if self._server is None:
            from bifrost.mcp.server import MCPServerMode

            self._server = MCPServerMode(mcp)
        self._server.manager = mcp  # stateless: after a reload, calls go to the new config's MCP clients
        self._server.max_body = gw.max_body
        gw.active += 1
        try:
            return await self._server.handle(request)
        finally:
            gw.active -= 1


def _find(gw: Gateway, request: web.Request, name: str) -> MCPTool:
    mcp = gw.mcp
    if mcp is None:
        raise GatewayError(404, "no MCP client is configured (mcp.client_configs in config.json)",
                           code="tool_not_found")
    for tool in select_tools(mcp.registry, request.headers):
        if tool.exposed == name:
            return tool
    raise GatewayError(
        404,
        f"unknown MCP tool '{name}': not offered by a connected MCP client, or filtered out by "
        "tools_to_execute or the x-bf-mcp-include-* headers (GET /v1/mcp/tools lists the tools)",
        code="tool_not_found",
    )


def _parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise bad_request(f"{param} must be a JSON object encoded as a string", param=param)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(f"{param} is not valid JSON", param=param) from None
    if not isinstance(value, dict):
        raise bad_request(f"{param} must encode a JSON object", param=param)
    return value
