"""Which MCP tools a request gets, and adding them to a canonical (OpenAI Chat Completions) request.

`inject_chat` is the one entry point every chat-shaped route calls (OpenAI chat, the Anthropic route
when it translates, Responses and /genai through their canonical request): the client's own tools
first, then the allowed MCP tools in registry order (client, then tool), so the request prefix is
byte-identical between calls and providers' prompt caches keep hitting. A client tool with the same
name as an MCP tool wins; the MCP tool is left out.

Per-request filters (comma-separated headers, both may be given: a tool must pass both):
* `x-bf-mcp-include-clients: files,search` keeps the tools of those clients;
* `x-bf-mcp-include-tools: files-read_file,search-*` keeps those `CLIENT-TOOL` names (`CLIENT-*`: all
  of a client's tools). An empty header keeps none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bifrost.mcp.tools import MCPTool, Registry

INCLUDE_CLIENTS = "x-bf-mcp-include-clients"
INCLUDE_TOOLS = "x-bf-mcp-include-tools"


def select_tools(registry: Registry, headers: Mapping[str, str]) -> tuple[MCPTool, ...]:
    """The registry's tools narrowed by the request's include headers (the registry's own tuple when
    neither header is sent: no work on the common path)."""
    clients = headers.get(INCLUDE_CLIENTS)
    names = headers.get(INCLUDE_TOOLS)
    if clients is None and names is None:
        return registry.tools
    tools = registry.tools
    if clients is not None:
        wanted = _items(clients)
        tools = tuple(t for t in tools if t.client in wanted)
    if names is not None:
        wanted = _items(names)
        whole = {w[:-2] for w in wanted if w.endswith("-*")}
        tools = tuple(
            t for t in tools if t.exposed in wanted or f"{t.client}-{t.name}" in wanted or t.client in whole
        )
    return tools


def inject_chat(body: dict[str, Any], tools: tuple[MCPTool, ...]) -> dict[str, Any]:
    """A shallow copy of the canonical request with the MCP tools after the client's own tools.

    The client's body is left as sent (it is what gets logged); nothing is copied when `tools` is empty.
    """
    if not tools:
        return body
    own = body.get("tools")
    if not own:
        return {**body, "tools": [t.openai for t in tools]}
    taken = {_tool_name(t) for t in own}
    return {**body, "tools": [*own, *(t.openai for t in tools if t.exposed not in taken)]}


def _tool_name(tool: Any) -> str | None:
    if isinstance(tool, dict):
        fn = tool.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
        if isinstance(tool.get("name"), str):
            return tool["name"]
    return None


def _items(header: str) -> frozenset[str]:
    return frozenset(item.strip() for item in header.split(",") if item.strip())


def inject_anthropic(body: dict[str, Any], tools: tuple[MCPTool, ...]) -> dict[str, Any]:
    """The same for an Anthropic Messages request passed through natively (tools as `input_schema`)."""
    return _append(body, tools, lambda t: {"name": t.exposed, "description": t.description, "input_schema": t.schema})


def inject_responses(body: dict[str, Any], tools: tuple[MCPTool, ...]) -> dict[str, Any]:
    """The same for an OpenAI Responses request passed through natively (flat function tools)."""
    return _append(
        body,
        tools,
        lambda t: {"type": "function", "name": t.exposed, "description": t.description, "parameters": t.schema},
    )


def _append(body: dict[str, Any], tools: tuple[MCPTool, ...], shape: Callable[[MCPTool], Any]) -> dict[str, Any]:
    if not tools:
        return body
    own = body.get("tools") or []
    taken = {_tool_name(t) for t in own}
    return {**body, "tools": [*own, *(shape(t) for t in tools if t.exposed not in taken)]}


def inject_genai(body: dict[str, Any], tools: tuple[MCPTool, ...]) -> dict[str, Any]:
    """The same for a Gemini generateContent request passed through natively: one more `tools` entry
    holding the MCP tools as `functionDeclarations`, their JSON schema as `parametersJsonSchema`."""
    own = body.get("tools") or []
    if not tools or not isinstance(own, list):
        return body  # a malformed `tools` goes upstream as sent: Gemini's 400 names it
    taken: set[Any] = set()
    for tool in own:
        if isinstance(tool, dict):
            for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or ():
                if isinstance(decl, dict):
                    taken.add(decl.get("name"))
    declarations = [
        {"name": t.exposed, "description": t.description, "parametersJsonSchema": t.schema}
        for t in tools
        if t.exposed not in taken
    ]
    if not declarations:
        return body
    return {**body, "tools": [*own, {"functionDeclarations": declarations}]}
