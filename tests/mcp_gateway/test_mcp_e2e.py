"""MCP end to end: real MCP servers (the SDK's MCPServer over stdio and streamable HTTP), a real gateway
process, the fake provider upstream, the official SDKs as clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from mcp_helpers import (
    CLAUDE,
    HttpMCPServer,
    health,
    http_client,
    mcp_config,
    post,
    stdio_client,
    tool_names,
    wait_state,
)

from harness import GatewayFactory, GatewayProcess, http_get

TOOLS = ["add_tool", "die", "fail", "list_directory", "read_file", "slow"]
CONFIG_JSON = '{"providers": {"openai": {"keys": ["..."]}, "anthropic": {"keys": ["..."]}}}\n'


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("served")
    (path / "config.json").write_text(CONFIG_JSON, encoding="utf-8")
    (path / "notes.txt").write_text("remember the milk\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def web_server(root: Path) -> Iterator[HttpMCPServer]:
    server = HttpMCPServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(start_module_gateway: GatewayFactory, fake_server: Any, root: Path, web_server: HttpMCPServer) -> GatewayProcess:
    config = mcp_config(
        fake_server.url,
        [
            stdio_client("files", root, tools_to_auto_execute=["read_file", "list_directory", "slow", "fail"]),
            http_client("web", web_server.url, tools_to_execute=["read_file", "list_directory", "fail", "slow"]),
        ],
        tool_execution_timeout=2,
        max_agent_depth=3,
    )
    gateway = start_module_gateway(config)
    wait_state(gateway, "files")
    wait_state(gateway, "web")
    return gateway


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client", max_retries=0, timeout=30)


def sent_tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] if "function" in t else t["name"] for t in request["body"].get("tools") or ()]


EXPECTED = [f"files-{t}" for t in TOOLS] + ["web-fail", "web-list_directory", "web-read_file", "web-slow"]


# --- discovery and injection --------------------------------------------------------------------------


def test_discovery_lists_every_allowed_tool_with_client_and_schema(gw: GatewayProcess) -> None:
    status, body = http_get(gw.url + "/v1/mcp/tools")
    data = json.loads(body)
    assert status == 200
    assert [t["function"]["name"] for t in data["data"]] == EXPECTED
    read = next(t for t in data["data"] if t["function"]["name"] == "files-read_file")
    assert (read["client"], read["tool"], read["auto_execute"]) == ("files", "read_file", True)
    assert read["function"]["parameters"]["properties"]["path"]["type"] == "string"
    assert read["function"]["description"].startswith("Read a UTF-8 text file")
    assert data["clients"]["web"] == {"state": "connected", "type": "http", "tools": 6}
    assert health(gw)["mcp"]["files"]["state"] == "connected"


def test_tools_are_appended_after_the_clients_own_tools_in_a_stable_order(gw: GatewayProcess, fake: Any) -> None:
    own = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    for _ in range(2):
        reply = client(gw).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], tools=[own]
        )
        assert reply.choices[0].message.content
    first, second = fake.control.log()[-2:]
    assert sent_tool_names(first) == ["get_weather", *EXPECTED]
    assert json.dumps(first["body"]["tools"]) == json.dumps(second["body"]["tools"])  # byte-identical prefix


def test_order_is_the_same_after_a_restart(
    gw: GatewayProcess, fake: Any, start_gateway: GatewayFactory, root: Path, web_server: HttpMCPServer
) -> None:
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    before = fake.control.last()["body"]["tools"]
    # the same servers, listed in the other order in the config
    config = mcp_config(
        fake.url,
        [
            http_client("web", web_server.url, tools_to_execute=["read_file", "list_directory", "fail", "slow"]),
            stdio_client("files", root, tools_to_auto_execute=["read_file"]),
        ],
    )
    other = start_gateway(config)
    wait_state(other, "files")
    wait_state(other, "web")
    client(other).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert json.dumps(fake.control.last()["body"]["tools"]) == json.dumps(before)


def test_a_client_tool_with_an_mcp_name_wins(gw: GatewayProcess, fake: Any) -> None:
    mine = {"type": "function", "function": {"name": "files-read_file", "description": "mine"}}
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], tools=[mine])
    tools = fake.control.last()["body"]["tools"]
    assert [t for t in tools if t["function"]["name"] == "files-read_file"] == [mine]


def test_anthropic_route_gets_the_tools_natively_and_translated(gw: GatewayProcess, fake: Any) -> None:
    ant = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="x", max_retries=0)
    ant.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    native = fake.control.last()
    assert native["path"].endswith("/v1/messages")
    assert sent_tool_names(native) == EXPECTED
    read = next(t for t in native["body"]["tools"] if t["name"] == "files-read_file")
    assert read["input_schema"]["required"] == ["path"]
    ant.messages.create(model="openai/gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    translated = fake.control.last()
    assert translated["path"].endswith("/chat/completions")
    assert sent_tool_names(translated) == EXPECTED


def test_include_headers_narrow_the_tools(gw: GatewayProcess, fake: Any) -> None:
    assert tool_names(gw, {"x-bf-mcp-include-clients": "web"}) == EXPECTED[6:]
    assert tool_names(gw, {"x-bf-mcp-include-tools": "files-read_file, web-*"}) == ["files-read_file", *EXPECTED[6:]]
    assert tool_names(gw, {"x-bf-mcp-include-clients": "files", "x-bf-mcp-include-tools": "files-fail,web-fail"}) == [
        "files-fail"
    ]
    client(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-bf-mcp-include-tools": "web-read_file"},
    )
    assert sent_tool_names(fake.control.last()) == ["web-read_file"]
    client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], extra_headers={"x-bf-mcp-include-clients": ""}
    )
    assert "tools" not in fake.control.last()["body"]


# --- the execute endpoints -----------------------------------------------------------------------------


def call(name: str, args: dict[str, Any] | str, call_id: str = "call_1") -> dict[str, Any]:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.mark.parametrize("name", ["files-read_file", "web-read_file"])
def test_execute_runs_an_openai_tool_call(gw: GatewayProcess, name: str) -> None:
    status, body = post(gw.url + "/v1/mcp/tool/execute", call(name, {"path": "notes.txt"}, "call_abc"))
    assert (status, body) == (200, {"role": "tool", "tool_call_id": "call_abc", "content": "remember the milk\n"})


def test_execute_accepts_the_anthropic_tool_use_shape(gw: GatewayProcess) -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "files-list_directory", "input": {}}
    status, body = post(gw.url + "/anthropic/v1/mcp/tool/execute", block)
    assert status == 200
    assert body == {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "config.json\nnotes.txt"}],
    }
    status, body = post(gw.url + "/anthropic/v1/mcp/tool/execute", {**block, "name": "files-nope"})
    assert status == 404 and body["type"] == "error" and "files-nope" in body["error"]["message"]


def test_a_failing_tool_is_a_tool_message_with_the_error(gw: GatewayProcess) -> None:
    status, body = post(gw.url + "/v1/mcp/tool/execute", call("files-fail", {}))
    assert status == 200 and body["role"] == "tool"
    assert body["content"].startswith("Error") and "fail" in body["content"]
    status, body = post(gw.url + "/anthropic/v1/mcp/tool/execute", {"type": "tool_use", "id": "t", "name": "web-fail"})
    assert status == 200 and body["is_error"] is True


def test_a_slow_tool_times_out_with_a_clear_message(gw: GatewayProcess) -> None:
    status, body = post(gw.url + "/v1/mcp/tool/execute", call("files-slow", {"seconds": 30}))
    assert status == 200
    assert body["content"] == "Error: tool files-slow did not answer within 2s (tool_execution_timeout)"
    # the connection is still usable afterwards
    status, body = post(gw.url + "/v1/mcp/tool/execute", call("files-slow", {"seconds": 0}))
    assert body["content"] == "slept 0.0"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (call("files-unknown", {}), {}, 404),
        (call("web-die", {}), {}, 404),  # not in web's tools_to_execute
        (call("files-read_file", {}), {"x-bf-mcp-include-clients": "web"}, 404),
        ({"id": "x", "function": "files-read_file"}, {}, 400),
        (call("files-read_file", "{not json"), {}, 400),
        (call("files-read_file", "[1]"), {}, 400),
        (b"not json", {}, 400),
    ],
)
def test_execute_refuses_what_it_cannot_run(
    gw: GatewayProcess, body: Any, headers: dict[str, str], status: int
) -> None:
    got, answer = post(gw.url + "/v1/mcp/tool/execute", body, headers)
    assert got == status
    assert answer["error"]["message"]


def test_tool_calls_are_counted_and_timed(gw: GatewayProcess) -> None:
    post(gw.url + "/v1/mcp/tool/execute", call("files-read_file", {"path": "notes.txt"}))
    _, text = http_get(gw.url + "/metrics")
    metrics = text.decode()
    assert 'bifrost_mcp_tool_calls_total{client="files",status="success",tool="read_file"}' in metrics
    assert 'bifrost_mcp_tool_latency_seconds_count{client="files",tool="read_file"}' in metrics
