"""Pure parts of bifrost.mcp: names, tool selection and injection, the config section."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from bifrost.config import ConfigError, parse_config
from bifrost.mcp.config import MCPClientConfig
from bifrost.mcp.inject import inject_anthropic, inject_chat, select_tools
from bifrost.mcp.naming import MAX_NAME, assign_names, exposed_name
from bifrost.mcp.tools import build_registry

VALID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def test_plain_names_are_client_dash_tool() -> None:
    assert exposed_name("files", "read_file") == "files-read_file"


def test_other_characters_become_underscores() -> None:
    assert exposed_name("files", "read.file v2/x") == "files-read_file_v2_x"


def test_long_names_are_shortened_deterministically() -> None:
    tool = "t" * 100
    name = exposed_name("files", tool)
    assert len(name) == MAX_NAME and VALID.fullmatch(name)
    assert name == exposed_name("files", tool)
    assert name != exposed_name("files", tool + "x")
    assert name.startswith("files-ttt")


def test_collisions_are_resolved_the_same_way_whatever_the_discovery_order() -> None:
    pairs = [("a", "x.y"), ("a", "x_y"), ("a", "x y")]
    first = assign_names(pairs)
    assert assign_names(list(reversed(pairs))) == first
    assert len(set(first.values())) == 3
    assert first[("a", "x y")] == "a-x_y"  # sorts first: keeps the plain name
    assert all(VALID.fullmatch(n) for n in first.values())


def test_long_colliding_names_stay_valid_and_distinct() -> None:
    pairs = [("c", "n" * 70 + suffix) for suffix in ("a", "b", ".", "_")]
    names = assign_names(pairs)
    assert len(set(names.values())) == 4
    assert all(VALID.fullmatch(n) for n in names.values())


def _tool(name: str, schema: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(name=name, description=f"does {name}", title=None, input_schema=schema or {"type": "object"})


CONFIGS = {
    "files": MCPClientConfig("files", "stdio", tools_to_auto_execute=("read",)),
    "web": MCPClientConfig("web", "http", tools_to_execute=("search", "fetch")),
}
REGISTRY = build_registry(
    {"web": [_tool("search"), _tool("fetch"), _tool("admin")], "files": [_tool("write"), _tool("read")]}, CONFIGS
)


def test_registry_is_sorted_by_client_then_tool_and_filtered_by_tools_to_execute() -> None:
    assert [t.exposed for t in REGISTRY.tools] == ["files-read", "files-write", "web-fetch", "web-search"]
    assert [t.exposed for t in REGISTRY.tools if t.auto] == ["files-read"]
    assert REGISTRY.has_auto


def test_auto_execution_needs_execution() -> None:
    config = MCPClientConfig("a", "stdio", tools_to_execute=("x",), tools_to_auto_execute=("*",))
    assert config.auto_executes("x") and not config.auto_executes("y")
    assert not MCPClientConfig("a", "stdio", tools_to_execute=()).allows("x")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ["files-read", "files-write", "web-fetch", "web-search"]),
        ({"x-bf-mcp-include-clients": "web"}, ["web-fetch", "web-search"]),
        ({"x-bf-mcp-include-clients": " files , nope"}, ["files-read", "files-write"]),
        ({"x-bf-mcp-include-tools": "web-*,files-read"}, ["files-read", "web-fetch", "web-search"]),
        ({"x-bf-mcp-include-clients": "web", "x-bf-mcp-include-tools": "web-fetch,files-read"}, ["web-fetch"]),
        ({"x-bf-mcp-include-tools": ""}, []),
    ],
)
def test_include_headers(headers: dict[str, str], expected: list[str]) -> None:
    assert [t.exposed for t in select_tools(REGISTRY, headers)] == expected


def test_without_headers_the_registry_tuple_itself_is_used() -> None:
    assert select_tools(REGISTRY, {}) is REGISTRY.tools


def test_inject_chat_appends_after_the_clients_tools_and_leaves_the_body_alone() -> None:
    own = {"type": "function", "function": {"name": "mine"}}
    shadow = {"type": "function", "function": {"name": "web-fetch", "description": "the client's"}}
    body = {"model": "m", "messages": [], "tools": [own, shadow]}
    out = inject_chat(body, REGISTRY.tools)
    names = [t["function"]["name"] for t in out["tools"]]
    assert names == ["mine", "web-fetch", "files-read", "files-write", "web-search"]
    assert out["tools"][1] is shadow
    assert body["tools"] == [own, shadow]
    assert inject_chat(body, ()) is body
    fresh = inject_chat({"messages": []}, REGISTRY.tools)
    assert fresh["tools"][0] is REGISTRY.tools[0].openai  # shared, built once


def test_inject_anthropic_uses_input_schema() -> None:
    out = inject_anthropic({"messages": []}, REGISTRY.tools[:1])
    assert out["tools"] == [{"name": "files-read", "description": "does read", "input_schema": {"type": "object"}}]


_TM = "mcp.tool_manager_config"


def _config(mcp: Any, env: dict[str, str] | None = None) -> Any:
    return parse_config('{"providers": {"openai": {}}, "mcp": ' + mcp + "}", env=env or {})


def test_config_defaults_and_durations() -> None:
    config = _config(
        '{"client_configs": [{"name": "f", "connection_type": "stdio",'
        ' "stdio_config": {"command": "x", "envs": ["HOME"]}},'
        ' {"name": "w", "connection_type": "sse", "connection_string": "http://h/sse", "headers": {"A": "env.TOK"}}],'
        ' "tool_manager_config": {"tool_execution_timeout": "1500ms", "max_agent_depth": 4}}',
        {"TOK": "secret-token"},
    ).mcp
    files, web = config.clients
    assert (files.command, files.envs) == ("x", ["HOME"])
    assert (files.tools_to_execute, files.tools_to_auto_execute) == (("*",), ())
    assert web.headers == {"A": "secret-token"} and "secret-token" in config.secrets()
    assert (config.tool_execution_timeout, config.max_agent_depth) == (1.5, 4)
    assert "secret-token" not in repr(web)


@pytest.mark.parametrize(
    ("mcp", "path"),
    [
        ('{"client_configs": {}}', "mcp.client_configs"),
        ('{"clients": []}', "mcp.clients"),
        ('{"client_configs": [{"connection_type": "stdio"}]}', "mcp.client_configs[0].name"),
        ('{"client_configs": [{"name": "x y", "connection_type": "stdio"}]}', "mcp.client_configs[0].name"),
        ('{"client_configs": [{"name": "a", "connection_type": "stdio"}]}', "mcp.client_configs[0].stdio_config"),
        ('{"client_configs": [{"name": "a", "connection_type": "http", "connection_string": "ftp://x"}]}',
         "mcp.client_configs[0].connection_string"),
        ('{"client_configs": [{"name": "a", "connection_type": "stdio", "stdio_config": {"command": "x"},'
         ' "connection_string": "http://x"}]}', "mcp.client_configs[0].connection_string"),
        ('{"client_configs": [{"name": "a", "connection_type": "stdio", "stdio_config": {"command": "x"}},'
         ' {"name": "a", "connection_type": "stdio", "stdio_config": {"command": "x"}}]}',
         "mcp.client_configs[1].name"),
        ('{"tool_manager_config": {"tool_execution_timeout": "soon"}}', f"{_TM}.tool_execution_timeout"),
        ('{"tool_manager_config": {"tool_execution_timeout": 0}}', f"{_TM}.tool_execution_timeout"),
    ],
)
def test_config_problems_name_their_path(mcp: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(mcp)
    assert path in [p.path for p in info.value.problems]
