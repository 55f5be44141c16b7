"""Connections over time: broken and dying servers, tools/list_changed, clean shutdown, server mode, and
a gateway without MCP."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_helpers import (
    HttpMCPServer,
    alive,
    children,
    health,
    http_client,
    mcp_config,
    post,
    stdio_client,
    tool_names,
    wait_state,
    wait_tools,
)

from harness import GatewayFactory, free_port, http_get, openai_config

SECRET = "mcp-secret-token-0123456789"


def chat(gw: Any) -> openai.types.chat.ChatCompletion:
    oa = openai.OpenAI(base_url=gw.openai_url, api_key="x", max_retries=0, timeout=30)
    return oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def execute(gw: Any, name: str, **args: Any) -> dict[str, Any]:
    body = {"id": "c", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
    status, answer = post(gw.url + "/v1/mcp/tool/execute", body)
    assert status == 200, answer
    return answer


def test_broken_servers_leave_the_gateway_healthy(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/mcp"
    config = mcp_config(
        fake.url,
        [
            {"name": "nocmd", "connection_type": "stdio", "stdio_config": {"command": str(tmp_path / "missing")}},
            http_client("deadurl", dead, headers={"Authorization": f"Bearer {SECRET}"}),
            {"name": "noenv", "connection_type": "stdio",
             "stdio_config": {"command": "python", "envs": ["BIFROST_TEST_UNSET_VARIABLE"]}},
            stdio_client("files", tmp_path),
        ],
    )
    gw = start_gateway(config, log_level="info")  # healthy at once: start-up never waits for MCP servers
    wait_state(gw, "files")
    states = wait_state(gw, "nocmd", "failed"), wait_state(gw, "deadurl", "failed"), wait_state(gw, "noenv", "failed")
    assert "command not found" in states[0]["error"]
    assert "connect" in states[1]["error"].lower()
    assert "BIFROST_TEST_UNSET_VARIABLE" in states[2]["error"]
    assert health(gw)["status"] == "ok"
    assert chat(gw).choices[0].message.content
    assert {t.split("-")[0] for t in sent_tools(fake)} == {"files"}
    _, body = http_get(gw.url + "/health")
    assert SECRET not in body.decode() and SECRET not in gw.logs()
    assert "retrying in" in gw.logs()  # reported, and retried with backoff


def sent_tools(fake: Any) -> list[str]:
    return [t["function"]["name"] for t in fake.control.last()["body"].get("tools") or ()]


def test_a_stdio_server_dying_mid_call_is_an_error_then_reconnects(
    start_gateway: GatewayFactory, fake: Any, tmp_path: Path
) -> None:
    gw = start_gateway(mcp_config(fake.url, [stdio_client("files", tmp_path)]))
    wait_state(gw, "files")
    answer = execute(gw, "files-die")
    assert answer["content"].startswith("Error: tool files-die failed")
    assert health(gw)["status"] == "ok"
    assert health(gw)["mcp"]["files"]["state"] != "connected"  # marked at once: its tools are not offered
    assert not [name for name in tool_names(gw) if name.startswith("files-")]
    wait_state(gw, "files")  # a new child, with its tools
    assert "files-read_file" in tool_names(gw)
    (tmp_path / "a.txt").write_text("back", encoding="utf-8")
    assert execute(gw, "files-read_file", path="a.txt")["content"] == "back"


def test_an_http_server_going_away_removes_its_tools(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    server = HttpMCPServer(tmp_path)
    try:
        gw = start_gateway(mcp_config(fake.url, [http_client("web", server.url), stdio_client("files", tmp_path)]))
        wait_state(gw, "web")
        wait_state(gw, "files")
    finally:
        server.stop()
    answer = execute(gw, "web-list_directory")
    assert answer["content"].startswith("Error")
    wait_state(gw, "web", "failed")
    chat(gw)
    assert sent_tools(fake) and all(name.startswith("files-") for name in sent_tools(fake))
    assert health(gw)["status"] == "ok"


def test_an_sse_server_works_like_the_others(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("over sse", encoding="utf-8")
    server = HttpMCPServer(tmp_path, sse=True)
    try:
        config = mcp_config(fake.url, [{"name": "old", "connection_type": "sse", "connection_string": server.url}])
        gw = start_gateway(config)
        wait_state(gw, "old")
        assert "old-read_file" in tool_names(gw)
        assert execute(gw, "old-read_file", path="a.txt")["content"] == "over sse"
    finally:
        server.stop()


def test_tools_list_changed_is_picked_up(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    server = HttpMCPServer(tmp_path)
    try:
        gw = start_gateway(mcp_config(fake.url, [stdio_client("files", tmp_path), http_client("web", server.url)]))
        wait_state(gw, "files")
        wait_state(gw, "web")
        assert "files-extra" not in tool_names(gw)
        assert execute(gw, "files-add_tool")["content"] == "added"
        wait_tools(gw, lambda names: "files-extra" in names)
        assert execute(gw, "files-extra", x=21)["content"] == "42"
        assert execute(gw, "web-add_tool")["content"] == "added"
        wait_tools(gw, lambda names: "web-extra" in names)
    finally:
        server.stop()


def test_periodic_resync_finds_new_tools(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    config = mcp_config(fake.url, [stdio_client("files", tmp_path)], tool_sync_interval=0.2)
    config["mcp"]["client_configs"][0]["stdio_config"]["args"].append("--quiet-changes")
    gw = start_gateway(config)
    wait_state(gw, "files")
    assert execute(gw, "files-add_tool")["content"] == "added"  # no notification with --quiet-changes
    wait_tools(gw, lambda names: "files-extra" in names)


def test_sigterm_leaves_no_stdio_child_behind(start_gateway: GatewayFactory, fake: Any, tmp_path: Path) -> None:
    gw = start_gateway(mcp_config(fake.url, [stdio_client("a", tmp_path), stdio_client("b", tmp_path)]))
    wait_state(gw, "a")
    wait_state(gw, "b")
    kids = children(gw.proc.pid)
    assert len(kids) >= 2
    gw.signal(signal.SIGTERM)
    assert gw.wait() == 0
    assert not [pid for pid in kids if alive(pid)]


async def test_server_mode_serves_every_tool_to_an_mcp_client(
    start_gateway: GatewayFactory, fake: Any, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text('{"providers": {}}', encoding="utf-8")
    gw = start_gateway(mcp_config(fake.url, [stdio_client("files", tmp_path)]))
    wait_state(gw, "files")
    for mode in ("auto", "legacy"):  # the 2026-07-28 protocol and the initialize handshake
        async with Client(gw.url + "/mcp", cache=None, mode=mode) as mcp_client:
            listed = await mcp_client.list_tools()
            assert [t.name for t in listed.tools] == tool_names(gw)
            read = next(t for t in listed.tools if t.name == "files-read_file")
            assert read.input_schema["required"] == ["path"]
            result = await mcp_client.call_tool("files-read_file", {"path": "config.json"})
            assert (result.is_error, result.content[0].text) == (False, '{"providers": {}}')
            failed = await mcp_client.call_tool("files-fail", {})
            assert failed.is_error
            unknown = await mcp_client.call_tool("files-nope", {})
            assert unknown.is_error and "unknown tool" in unknown.content[0].text
    _, metrics = http_get(gw.url + "/metrics")
    assert 'bifrost_mcp_tool_calls_total{client="files",status="success",tool="read_file"} 2.0' in metrics.decode()
    http = httpx2.AsyncClient(headers={"x-bf-mcp-include-tools": "files-list_directory"})
    async with http, Client(streamable_http_client(gw.url + "/mcp", http_client=http), cache=None) as narrowed:
        assert [t.name for t in (await narrowed.list_tools()).tools] == ["files-list_directory"]
        hidden = await narrowed.call_tool("files-read_file", {"path": "config.json"})
        assert hidden.is_error and "unknown tool" in hidden.content[0].text
    status, _ = post(gw.url + "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Origin": "http://evil.example"})
    assert status == 403


def test_without_mcp_nothing_is_injected(start_gateway: GatewayFactory, fake: Any) -> None:
    gw = start_gateway(openai_config(fake.url))
    oa = openai.OpenAI(base_url=gw.openai_url, api_key="x", max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "tools" not in fake.control.last()["body"]
    assert "mcp" not in health(gw)
    status, body = http_get(gw.url + "/v1/mcp/tools")
    assert (status, json.loads(body)["data"]) == (200, [])
    status, answer = post(gw.url + "/v1/mcp/tool/execute", {"id": "c", "function": {"name": "x-y", "arguments": "{}"}})
    assert status == 404 and "mcp.client_configs" in answer["error"]["message"]
    status, answer = post(gw.url + "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert status == 404


@pytest.mark.parametrize(
    ("mcp", "message"),
    [
        ({"client_configs": [{"name": "a-b", "connection_type": "stdio", "stdio_config": {"command": "x"}}]},
         "mcp.client_configs[0].name"),
        ({"client_configs": [{"name": "a", "connection_type": "tcp"}]}, "mcp.client_configs[0].connection_type"),
        ({"client_configs": [{"name": "a", "connection_type": "http"}]}, "mcp.client_configs[0].connection_string"),
        ({"tool_manager_config": {"max_agent_depth": 0}}, "mcp.tool_manager_config.max_agent_depth"),
    ],
)
def test_bad_mcp_config_is_refused_with_its_path(
    start_gateway: GatewayFactory, fake: Any, mcp: dict[str, Any], message: str
) -> None:
    gw = start_gateway.launch({**openai_config(fake.url), "mcp": mcp})
    assert gw.wait(30) == 2
    assert message in gw.logs()
