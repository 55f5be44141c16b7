"""A config reload swaps the MCP clients: a tool call in flight finishes on the old client, new calls reach the
new one, and an unchanged `mcp` section keeps its connected clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_helpers import mcp_config, post, served_root, stdio_client, wait_state

from harness import GatewayFactory


def _wait_for(path: Path, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.exists()


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def _reload(gw: Any, config: dict[str, Any]) -> dict[str, Any]:
    gw.config_path.write_text(json.dumps(config))
    status, body = post(gw.url + "/api/config/reload", {})
    assert status == 200, body
    return dict(body)


def test_a_reload_swaps_the_mcp_clients_and_a_call_in_flight_finishes(
    start_gateway: GatewayFactory, fake: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    old_root = served_root(tmp_path_factory, "{}")
    new_root = served_root(tmp_path_factory, "{}")
    (new_root / "notes.txt").write_text("the new config's notes\n", encoding="utf-8")
    started = old_root.parent / "slow-started"
    old_client = stdio_client("files", old_root)
    old_client["stdio_config"]["args"] += ["--started-file", str(started)]
    config = mcp_config(fake.url, [old_client])
    gw = start_gateway(config, log_level="info")
    wait_state(gw, "files")

    slow: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: slow.update(zip(("status", "body"), post(gw.url + "/v1/mcp/tool/execute",
                                                               _call("files-slow", {"seconds": 3})), strict=True))
    )
    worker.start()
    assert _wait_for(started)  # the call is running in the old config's MCP client
    config["mcp"]["client_configs"] = [stdio_client("files", new_root)]
    assert _reload(gw, config)["applied"] == ["mcp"]
    wait_state(gw, "files")
    status, body = post(gw.url + "/v1/mcp/tool/execute", _call("files-read_file", {"path": "notes.txt"}))
    assert (status, body["content"]) == (200, "the new config's notes\n")
    worker.join(timeout=30)
    assert slow == {"status": 200, "body": {"role": "tool", "tool_call_id": "call_1", "content": "slept 3.0"}}

    config["providers"]["groq"]["network_config"]["max_retries"] = 2  # the mcp section stays as it is
    assert _reload(gw, config)["applied"] == ["providers.groq"]
    assert wait_state(gw, "files")["state"] == "connected"  # the same clients, still connected
    status, body = post(gw.url + "/v1/mcp/tool/execute", _call("files-read_file", {"path": "notes.txt"}))
    assert (status, body["content"]) == (200, "the new config's notes\n")
