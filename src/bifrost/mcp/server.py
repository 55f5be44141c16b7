"""Server mode: every connected MCP tool, under its `CLIENT-TOOL` name, as one MCP server at `/mcp`.

The protocol is the SDK's: a low-level `mcp.server.Server` answers `tools/list` from the registry and
`tools/call` through `MCPManager.execute` (same timeout, metrics and logs as every tool execution), and the
SDK's streamable-HTTP session manager serves it. The `x-bf-mcp-include-clients` / `x-bf-mcp-include-tools`
headers of the HTTP request narrow what it lists and runs, as on the chat routes. It runs stateless, so any
worker process can answer any request. This module only bridges aiohttp to the SDK's ASGI handler
(scope, receive, send).

A browser request (one with an `Origin` header) is refused unless the origin is on this machine
(localhost, 127.0.0.1, [::1]): a web page must not reach local tools through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import mcp_types
from aiohttp import web
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from bifrost.mcp.inject import select_tools
from bifrost.mcp.manager import MCPManager
from bifrost.server.bodies import BodyDecodeError, read_body

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _headers(ctx: Any) -> Any:
    """The HTTP request's headers (the x-bf-mcp-include-* filters apply here too)."""
    headers = getattr(getattr(ctx, "request", None), "headers", None)
    return headers if headers is not None else {}


class MCPServerMode:
    def __init__(self, manager: MCPManager, max_body: int = 100 * 1024 * 1024) -> None:
        self.manager = manager
        self.max_body = max_body  # client.max_request_body_size_mb, after decompression
        self.server: Server[Any] = Server(
            "bifrost",
            version="1",
            instructions="Tools of the MCP servers connected to this Bifrost gateway, named CLIENT-TOOL.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self._schema,
        )
        self.sessions = StreamableHTTPSessionManager(self.server, stateless=True)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    # -- MCP handlers ----------------------------------------------------------------------------------
    async def _list_tools(self, ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        tools = [
            mcp_types.Tool(name=t.exposed, description=t.description, input_schema=t.schema)
            for t in select_tools(self.manager.registry, _headers(ctx))
        ]
        return mcp_types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        tool = next((t for t in select_tools(self.manager.registry, _headers(ctx)) if t.exposed == params.name), None)
        if tool is None:
            text = f"unknown tool '{params.name}' (tools/list shows the tools of the connected MCP clients)"
            return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)
        outcome = await self.manager.execute(tool, dict(params.arguments or {}))
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=outcome.content)], is_error=not outcome.ok
        )

    def _schema(self, name: str) -> dict[str, Any] | None:
        tool = self.manager.registry.by_name.get(name)
        return tool.schema if tool is not None else None

    # -- lifecycle -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        async with self.sessions.run():
            self._ready.set()
            await self._stop.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._stop.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5)

    # -- aiohttp -> ASGI ---------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and (urlsplit(origin).hostname or "") not in _LOCAL_HOSTS:
            message = f"MCP server mode does not answer web pages of other sites (Origin {origin})"
            error = {"message": message, "type": "permission_error", "param": None, "code": "origin_not_allowed"}
            return web.json_response({"error": error}, status=403)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mcp-server-mode")
        await self._ready.wait()
        try:
            body = bytes(await read_body(request, self.max_body))
        except (BodyDecodeError, web.HTTPRequestEntityTooLarge) as exc:
            message = str(exc) if isinstance(exc, BodyDecodeError) else "the request body is too large"
            error = {"message": message, "type": "invalid_request_error", "param": None, "code": "bad_request_body"}
            return web.json_response({"error": error}, status=413 if isinstance(exc, web.HTTPException) else 400)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.encode("latin-1"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.raw_headers],
            "client": tuple(peer[:2]) if peer else None,
            "server": None,
        }
        response = web.StreamResponse()
        sent = False
        forever = asyncio.Event()  # the client's disconnect arrives as this handler's cancellation

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await forever.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.set_status(message["status"])
                for name, value in message.get("headers") or ():
                    response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
                await response.prepare(request)
            elif message["type"] == "http.response.body":
                chunk = message.get("body") or b""
                if chunk:
                    await response.write(chunk)

        await self.sessions.handle_request(scope, receive, send)
        if not response.prepared:
            return web.Response(status=500, text="MCP server mode sent no answer")
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
