"""The tool registry the request path reads: what each MCP tool is called, and its pre-built definition.

No MCP SDK import here: `inject` and `agent` use these types on the request path, and a route module
can import them without loading the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bifrost.mcp.config import MCPClientConfig
from bifrost.mcp.naming import assign_names


@dataclass(frozen=True, slots=True)
class MCPTool:
    client: str
    name: str  # the tool's name on its own server
    exposed: str  # CLIENT-TOOL, as the model sees it
    description: str
    schema: dict[str, Any]
    auto: bool  # in tools_to_auto_execute
    openai: dict[str, Any]  # {"type": "function", "function": {...}}: built once, shared by every request


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    tool: str  # exposed name
    client: str
    content: str
    ok: bool
    latency_s: float


@dataclass(slots=True)
class Registry:
    """One immutable view of every allowed tool, sorted by client then tool (a stable request prefix)."""

    tools: tuple[MCPTool, ...] = ()
    by_name: dict[str, MCPTool] = field(default_factory=dict)
    openai_tools: tuple[dict[str, Any], ...] = ()
    has_auto: bool = False


def build_registry(listed: dict[str, list[Any]], configs: dict[str, MCPClientConfig]) -> Registry:
    allowed = [
        (client, tool) for client, tools in listed.items() for tool in tools if configs[client].allows(tool.name)
    ]
    names = assign_names((client, tool.name) for client, tool in allowed)
    entries: list[MCPTool] = []
    for client, tool in sorted(allowed, key=lambda ct: (ct[0], ct[1].name)):
        exposed = names[(client, tool.name)]
        schema = dict(tool.input_schema) if tool.input_schema else {"type": "object", "properties": {}}
        description = tool.description or tool.title or tool.name
        entries.append(
            MCPTool(
                client=client,
                name=tool.name,
                exposed=exposed,
                description=description,
                schema=schema,
                auto=configs[client].auto_executes(tool.name),
                openai={
                    "type": "function",
                    "function": {"name": exposed, "description": description, "parameters": schema},
                },
            )
        )
    return Registry(
        tools=tuple(entries),
        by_name={t.exposed: t for t in entries},
        openai_tools=tuple(t.openai for t in entries),
        has_auto=any(t.auto for t in entries),
    )
