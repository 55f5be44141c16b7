"""Helpers for the MCP tests: the test MCP server over stdio and streamable HTTP, configs, waiting for
connections (by polling /health, never by sleeping a fixed time)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import HOST, GatewayProcess, free_port, http_get, openai_config

SERVER = str(Path(__file__).with_name("mcp_test_server.py"))
CONNECT_TIMEOUT_S = 30.0
CLAUDE = "claude-3-5-sonnet-20241022"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def served_root(factory: Any, config_json: str) -> Path:
    """A directory for the test MCP server to serve: config.json (the guide's example) and notes.txt."""
    root: Path = factory.mktemp("served")
    (root / "config.json").write_text(config_json, encoding="utf-8")
    (root / "notes.txt").write_text("remember the milk\n", encoding="utf-8")
    return root


def stdio_client(name: str, root: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "connection_type": "stdio",
        "stdio_config": {"command": sys.executable, "args": [SERVER, "--root", str(root), "--name", name]},
        **extra,
    }


def http_client(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "connection_type": "http", "connection_string": url, **extra}


def mcp_config(fake_url: str, clients: list[dict[str, Any]], **manager: Any) -> dict[str, Any]:
    """The typical config, an anthropic provider on the fake, and these MCP clients."""
    config = openai_config(
        fake_url,
        providers={
            "anthropic": {
                "keys": [{"name": "ant", "value": "sk-ant-test", "models": [CLAUDE]}],
                "network_config": {"base_url": fake_url},
            }
        },
    )
    config["mcp"] = {"client_configs": clients, "tool_manager_config": {"tool_sync_interval": 0, **manager}}
    return config


def health(gw: GatewayProcess) -> dict[str, Any]:
    status, body = http_get(gw.url + "/health")
    assert status == 200, body
    return json.loads(body)


def wait_state(gw: GatewayProcess, name: str, state: str = "connected", timeout: float = CONNECT_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = health(gw)["mcp"][name]
        if last["state"] == state:
            return last
        time.sleep(0.05)
    raise AssertionError(f"MCP client {name} not {state} within {timeout:g}s: {last}\n{gw.logs()[-3000:]}")


def wait_tools(gw: GatewayProcess, predicate: Any, timeout: float = CONNECT_TIMEOUT_S) -> list[str]:
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = tool_names(gw)
        if predicate(names):
            return names
        time.sleep(0.05)
    raise AssertionError(f"tool list never matched: {names}")


def tool_names(gw: GatewayProcess, headers: dict[str, str] | None = None) -> list[str]:
    request = urllib.request.Request(gw.url + "/v1/mcp/tools", headers=headers or {})
    with _OPENER.open(request, timeout=10) as resp:
        return [t["function"]["name"] for t in json.loads(resp.read())["data"]]


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with _OPENER.open(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class HttpMCPServer:
    """The test MCP server over streamable HTTP (or SSE), in a subprocess."""

    def __init__(self, root: Path, name: str = "web", sse: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/{'sse' if sse else 'mcp'}"
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--root", str(root), "--http", str(self.port), "--name", name]
            + (["--sse"] if sse else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                assert self.proc.poll() is None, "the HTTP MCP server exited"
                time.sleep(0.05)
        raise AssertionError("the HTTP MCP server did not listen")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def children(pid: int) -> set[int]:
    """Every descendant process of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
