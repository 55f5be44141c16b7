"""The `mcp` section of config.json: which MCP servers to connect to, and how tools are run.

Only the shape is read here (with the config reader, so `bifrost check` reports every problem with its
JSON path); this module imports nothing of the MCP SDK, so a gateway without MCP never loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bifrost.config.reader import Obj, Reader

CONNECTION_TYPES = ("stdio", "http", "sse")
ROOT_FIELDS = ("client_configs", "tool_manager_config")
CLIENT_FIELDS = (
    "name",
    "connection_type",
    "connection_string",
    "stdio_config",
    "headers",
    "tools_to_execute",
    "tools_to_auto_execute",
)
STDIO_FIELDS = ("command", "args", "envs")
MANAGER_FIELDS = ("tool_execution_timeout", "max_agent_depth", "tool_sync_interval")
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_]{1,48}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(slots=True)
class MCPClientConfig:
    """One MCP server the gateway connects to. `headers` values and `connection_string` may be secrets."""

    name: str
    connection_type: str  # stdio | http | sse
    connection_string: str | None = None  # http / sse URL
    command: str | None = None  # stdio
    args: list[str] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)  # variable names passed to the child; each must exist
    headers: dict[str, str] = field(default_factory=dict)
    tools_to_execute: tuple[str, ...] = ("*",)  # "*" all; () none
    tools_to_auto_execute: tuple[str, ...] = ()

    def allows(self, tool: str) -> bool:
        return "*" in self.tools_to_execute or tool in self.tools_to_execute

    def auto_executes(self, tool: str) -> bool:
        """Auto-execution is a subset of execution: a tool not allowed is never auto-executed."""
        return self.allows(tool) and ("*" in self.tools_to_auto_execute or tool in self.tools_to_auto_execute)

    def __repr__(self) -> str:  # never header values or the URL (it may hold a password)
        return f"MCPClientConfig(name={self.name!r}, connection_type={self.connection_type!r})"


@dataclass(slots=True)
class MCPConfig:
    clients: list[MCPClientConfig] = field(default_factory=list)
    tool_execution_timeout: float = 30.0  # seconds per tool call
    max_agent_depth: int = 10  # tool rounds the gateway runs itself in agent mode
    tool_sync_interval: float = 60.0  # seconds between tool-list re-syncs (0: only on list_changed)

    @property
    def agent_mode(self) -> bool:
        return any(c.tools_to_auto_execute for c in self.clients)

    def secrets(self) -> list[str]:
        """Header values and URL passwords: scrubbed from every error, status and log line."""
        from urllib.parse import urlsplit

        out = [v for c in self.clients for v in c.headers.values() if len(v) >= 4]
        for c in self.clients:
            if c.connection_string:
                password = urlsplit(c.connection_string).password
                if password:
                    out.append(password)
        return out


def parse_mcp(r: Reader, root: Obj) -> MCPConfig | None:
    """Read `mcp` from the config root; problems are recorded on the reader."""
    if "mcp" not in root:
        return None
    sec = r.obj(root.get("mcp"), root.path("mcp"), ROOT_FIELDS)
    if sec is None:
        return None
    config = MCPConfig()
    manager = sec.obj("tool_manager_config", MANAGER_FIELDS)
    if manager is not None:
        config.tool_execution_timeout = _seconds(r, manager, "tool_execution_timeout", config.tool_execution_timeout)
        config.max_agent_depth = manager.integer("max_agent_depth", config.max_agent_depth, ge=1)
        config.tool_sync_interval = _seconds(r, manager, "tool_sync_interval", config.tool_sync_interval, zero=True)
    if "client_configs" in sec:
        items = sec.get("client_configs")
        path = sec.path("client_configs")
        if not isinstance(items, list):
            r.type_error(path, "an array of MCP client objects", items)
        else:
            for i, item in enumerate(items):
                client = _client(r, item, f"{path}[{i}]")
                if client is None:
                    continue
                if any(c.name == client.name for c in config.clients):
                    r.error(f"{path}[{i}].name", f"duplicate MCP client name '{client.name}'")
                    continue
                config.clients.append(client)
    return config


def _client(r: Reader, value: Any, path: str) -> MCPClientConfig | None:
    sec = r.obj(value, path, CLIENT_FIELDS)
    if sec is None:
        return None
    name = sec.string("name")
    if name is None:
        if "name" not in sec:
            r.error(f"{path}.name", "is required: a short name, used as the prefix of its tools (CLIENT-TOOL)")
        return None
    if not _CLIENT_NAME.fullmatch(name):
        r.error(sec.path("name"), f"must be 1-48 letters, digits or '_' (it prefixes tool names), got {name!r}")
        return None
    kind = r.choice(sec.get("connection_type"), sec.path("connection_type"), CONNECTION_TYPES) if (
        "connection_type" in sec
    ) else None
    if "connection_type" not in sec:
        r.error(f"{path}.connection_type", f"is required: one of {', '.join(CONNECTION_TYPES)}")
    if kind is None:
        return None
    client = MCPClientConfig(name=name, connection_type=kind)
    if kind == "stdio":
        if "connection_string" in sec:
            r.error(sec.path("connection_string"), "is only used by http and sse connections")
        stdio = sec.obj("stdio_config", STDIO_FIELDS)
        if stdio is None:
            if "stdio_config" not in sec:
                r.error(f"{path}.stdio_config", 'is required for stdio: {"command": ..., "args": [...]}')
            return None
        client.command = stdio.string("command")
        if client.command is None and "command" not in stdio:
            r.error(stdio.path("command"), "is required: the program that runs the MCP server")
        if client.command == "":
            r.error(stdio.path("command"), "must not be empty")
        client.args = stdio.strings("args") if "args" in stdio else []
        client.envs = [_plain(r, p, t) for p, t in stdio.string_items("envs")] if "envs" in stdio else []
    else:
        if "stdio_config" in sec:
            r.error(sec.path("stdio_config"), "is only used by stdio connections")
        url = sec.string("connection_string")
        if "connection_string" not in sec:
            r.error(f"{path}.connection_string", f"is required for {kind}: the server's URL")
        elif url is not None and not url.startswith(("http://", "https://")):
            r.error(sec.path("connection_string"), "must be a URL starting with http:// or https://")
        client.connection_string = url
        headers = sec.get("headers")
        if headers is not None:
            if not isinstance(headers, dict):
                r.type_error(sec.path("headers"), "an object of header name -> value", headers)
            else:
                for hname, hvalue in headers.items():
                    text = r.string(hvalue, f"{sec.path('headers')}.{hname}")
                    if text is not None:
                        client.headers[str(hname)] = text
    if "tools_to_execute" in sec:
        client.tools_to_execute = tuple(sec.strings("tools_to_execute"))
    client.tools_to_auto_execute = tuple(sec.strings("tools_to_auto_execute"))
    return client


def _plain(r: Reader, path: str, name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        r.error(path, f"must be an environment variable name, got {name!r}")
    return name


def _seconds(r: Reader, sec: Obj, name: str, default: float, zero: bool = False) -> float:
    """A number of seconds, or a duration string such as "30s", "500ms", "2m" (the original's form)."""
    if name not in sec:
        return default
    value = sec.get(name)
    path = sec.path(name)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            r.error(path, f'must be a number of seconds or a duration such as "30s", got {value!r}')
            return default
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        number = r.number(value, path, ge=0)
        if number is None:
            return default
        seconds = number
    if seconds <= 0 and not zero:
        r.error(path, "must be > 0")
        return default
    return seconds
