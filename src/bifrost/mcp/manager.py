"""MCP connections, the tool registry, and tool execution (official `mcp` SDK, 2.x).

Each configured client gets one supervisor task, started in the background at start-up: it connects
(stdio child, streamable HTTP or SSE), lists the tools, then watches for `tools/list_changed` (through
`subscriptions/listen` on 2026-07-28 connections, the notification on older ones) and re-lists every
`tool_sync_interval`. A connection that fails or drops is retried with exponential backoff; the gateway
never waits for it, and `/health` shows each client's state. Closing cancels the supervisors, and the
SDK's stdio transport stops each child (stdin closed, then SIGTERM, then SIGKILL of its process tree).

The registry is an immutable snapshot, rebuilt only when a tool list changes, so the request path reads
one attribute and shares its pre-built tool lists. This module knows no route and no wire format.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import mcp_types
import orjson
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from bifrost.mcp.config import MCPClientConfig, MCPConfig
from bifrost.mcp.tools import MCPTool, Registry, ToolOutcome, build_registry

log = logging.getLogger("bifrost.mcp")

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
CONNECT_TIMEOUT_S = 30.0


class _Lost(Exception):
    """The connection was found broken (a failed call, a dropped change stream)."""


class _Connection:
    """One MCP client: its supervisor task, state and last error (both shown in /health)."""

    def __init__(self, config: MCPClientConfig, manager: MCPManager) -> None:
        self.config = config
        self.manager = manager
        self.state = "connecting"  # connecting | connected | failed
        self.error: str | None = None
        self.attempts = 0
        self.tools: list[mcp_types.Tool] = []
        self.client: Client | None = None
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # a list change, or the connection found dead
        self._dead: str | None = None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "type": self.config.connection_type, "tools": len(self.tools)}
        if self.error:
            out["error"] = self.error
        if self.state != "connected" and self.attempts:
            out["attempts"] = self.attempts
        return out

    def lost(self, reason: str) -> None:
        """A call found the connection broken: its tools leave the registry now; the supervisor reconnects."""
        if self.state == "connected" and self._dead is None:
            self._dead = reason
            self.state, self.error = "failed", reason
            if self.tools:
                self.tools = []
                self.manager.rebuild()
            self._wake.set()

    async def supervise(self) -> None:
        delay = BACKOFF_INITIAL_S
        name = self.config.name
        while True:
            self.state, self._dead = "connecting", None
            self.attempts += 1
            try:
                async with AsyncExitStack() as stack:
                    # asyncio.timeout, not wait_for: the SDK's cancel scopes must be entered and left in
                    # this task, and wait_for would run the connect in a task of its own
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        client = await self._connect(stack)
                    await self._sync(client)
                    self.client, self.state, self.error, self.attempts = client, "connected", None, 0
                    delay = BACKOFF_INITIAL_S
                    log.info("MCP client %s connected (%s): %d tools", name, client.protocol_version, len(self.tools))
                    await self._watch(client)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # ExceptionGroup from anyio included; never fatal to the gateway
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                if self.manager.closing:
                    return
                self.error = self.manager.scrub(str(exc) if isinstance(exc, _Lost) else _describe(exc))
            finally:
                self.client = None
                if self.tools:
                    self.tools = []
                    self.manager.rebuild()
            self.state = "failed"
            log.warning("MCP client %s: %s; retrying in %.1fs", name, self.error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _connect(self, stack: AsyncExitStack) -> Client:
        cfg = self.config
        if cfg.connection_type == "stdio":
            missing = [name for name in cfg.envs if name not in os.environ]
            if missing:
                raise RuntimeError(f"environment variable(s) {', '.join(missing)} not set (stdio_config.envs)")
            env = {name: os.environ[name] for name in cfg.envs}
            params = StdioServerParameters(command=cfg.command or "", args=cfg.args, env=env or None)
            transport: Any = params
        elif cfg.connection_type == "http":
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=cfg.headers, timeout=httpx2.Timeout(30.0, read=300.0))
            )
            transport = streamable_http_client(cfg.connection_string or "", http_client=http)
        else:
            transport = sse_client(cfg.connection_string or "", headers=cfg.headers or None)
        client = Client(transport, cache=None, message_handler=self._on_message)
        return await stack.enter_async_context(client)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):  # handshake-era servers
            self._wake.set()

    async def _sync(self, client: Client) -> None:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends cannot hang the supervisor
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        changed = [(t.name, t.description, t.input_schema) for t in tools] != [
            (t.name, t.description, t.input_schema) for t in self.tools
        ]
        self.tools = tools
        if changed:
            self.manager.rebuild()
            if self.state == "connected":
                log.info("MCP client %s: tool list changed, %d tools", self.config.name, len(tools))

    async def _watch(self, client: Client) -> None:
        listener: asyncio.Task[None] | None = None
        caps = client.server_capabilities.tools
        if client.protocol_version in MODERN_PROTOCOL_VERSIONS and caps is not None and caps.list_changed:
            listener = asyncio.create_task(self._listen(client))
        interval = self.manager.config.tool_sync_interval or None
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                if self._dead is not None:
                    raise _Lost(self._dead)
                await self._sync(client)
        finally:
            if listener is not None:
                listener.cancel()

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as sub:
                async for _event in sub:
                    self._wake.set()
            reason = "the server closed its change stream"
        except asyncio.CancelledError:
            raise
        except ListenNotSupportedError:
            return
        except BaseException as exc:
            reason = _describe(exc)
        self.lost(reason)


class MCPManager:
    """Every MCP client of the config; `registry` is what the request path reads."""

    def __init__(
        self, config: MCPConfig, secrets: tuple[str, ...] = (), metrics: Any = None
    ) -> None:
        self.config = config
        self.configs = {c.name: c for c in config.clients}
        self.connections = {c.name: _Connection(c, self) for c in config.clients}
        self.registry = Registry()
        self.metrics = metrics
        self.secrets = tuple(sorted({*secrets, *config.secrets()}, key=len, reverse=True))
        self.listeners: list[Callable[[], None]] = []  # told when the registry changes (server mode)
        self.closing = False

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        for conn in self.connections.values():
            conn.task = asyncio.create_task(conn.supervise(), name=f"mcp-{conn.config.name}")

    async def close(self) -> None:
        self.closing = True
        tasks = [c.task for c in self.connections.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def rebuild(self) -> None:
        listed = {name: conn.tools for name, conn in self.connections.items() if conn.tools}
        self.registry = build_registry(listed, self.configs)
        for listener in self.listeners:
            listener()

    def status(self) -> dict[str, Any]:
        return {name: conn.status() for name, conn in self.connections.items()}

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    async def execute(self, tool: MCPTool, arguments: dict[str, Any]) -> ToolOutcome:
        """Run one tool; a failure or timeout is an outcome with `ok=False` and a clear message, never raised."""
        conn = self.connections[tool.client]
        client = conn.client
        timeout = self.config.tool_execution_timeout
        started = time.perf_counter()
        ok = False
        if client is None:
            text = f"Error: MCP client '{tool.client}' is not connected ({conn.error or conn.state})"
        else:
            try:
                async with asyncio.timeout(timeout):
                    result = await client.call_tool(tool.name, arguments)
            except TimeoutError:
                text = f"Error: tool {tool.exposed} did not answer within {timeout:g}s (tool_execution_timeout)"
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                reason = self.scrub(_describe(exc))
                text = f"Error: tool {tool.exposed} failed: {reason}"
                if _is_transport_failure(exc):
                    conn.lost(reason)
            else:
                ok = not result.is_error
                text = result_text(result)
                if not ok and not text.startswith("Error"):
                    text = "Error: " + text
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            try:
                self.metrics.mcp_tool_call(tool.client, tool.name, ok, elapsed)
            except Exception:
                pass
        log.info("MCP tool %s %s in %.1f ms", tool.exposed, "ok" if ok else "failed", elapsed * 1000)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("MCP tool %s arguments=%s result=%s", tool.exposed, _dump(arguments), text[:2000])
        return ToolOutcome(tool.exposed, tool.client, text, ok, elapsed)

    async def execute_many(
        self, calls: list[tuple[MCPTool, dict[str, Any]]]
    ) -> list[ToolOutcome]:
        """Independent calls of one round, run concurrently; results in call order."""
        if len(calls) == 1:
            tool, args = calls[0]
            return [await self.execute(tool, args)]
        runs: list[Awaitable[ToolOutcome]] = [self.execute(tool, args) for tool, args in calls]
        return list(await asyncio.gather(*runs))


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as the text of a tool message: text blocks joined; other blocks described."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} {getattr(block, 'mime_type', '')}]".replace(" ]", "]"))
    if not parts and result.structured_content is not None:
        return _dump(result.structured_content)
    return "\n".join(parts)


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _is_transport_failure(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_transport_failure(e) for e in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.code == mcp_types.CONNECTION_CLOSED
    return isinstance(exc, OSError | EOFError | httpx2.TransportError) or "closed" in str(exc).lower()


def _describe(exc: BaseException) -> str:
    """The innermost useful message of an (anyio) exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:300] if exc.__class__.__name__ not in text else text[:300]


__all__ = ["MCPManager", "MCPTool", "Registry", "ToolOutcome", "result_text"]
