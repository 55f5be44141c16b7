"""Codex CLI (the real one, ``codex exec``) through the gateway's Responses route to the fake, issue 15.

Codex speaks only OpenAI's Responses API. Its ``config.toml`` (written into a temporary ``CODEX_HOME``) is the
README's, plus every update/analytics/feedback/telemetry/plugin-sync switch turned off; ``HTTP(S)_PROXY``
point at a `ProxyTrap`, so the test also proves it reaches nothing but the gateway. Two targets: an OpenAI
model (the request passed through) and an Anthropic model (translated), each with a tool loop: the fake asks
for ``exec_command`` (``cat notes.txt``), Codex runs it and sends the output back, the answer prints.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from claude_cli import AGENTS_DIR, ProxyTrap, installed_command
from test_claude_code import logged

from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory, GatewayProcess, openai_config

PACKAGE = "@openai/codex"
VERSION = "0.171.0"
ANTHROPIC_KEY = "sk-ant-test-upstream"
README = Path(__file__).resolve().parents[2] / "README.md"
NOTES = "The secret word is pineapple.\n"
QUIET_TOML = """
check_for_update_on_startup = false
[analytics]
enabled = false
[feedback]
enabled = false
[otel]
exporter = "none"
"""


@pytest.fixture(scope="module")
def codex() -> list[str]:
    return installed_command(
        PACKAGE, VERSION, "codex", AGENTS_DIR / "node_modules" / PACKAGE / "bin" / "codex.js", f"codex-cli {VERSION}"
    )


@pytest.fixture
def trap() -> Any:
    proxy = ProxyTrap()
    yield proxy
    proxy.close()


def readme_toml() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Codex"):]
    start = section.index("```toml\n") + len("```toml\n")
    return section[start:section.index("```", start)]


def codex_config(gw: GatewayProcess, model: str) -> str:
    """The README's config.toml with the gateway's address and the model, plus the quiet switches."""
    toml = readme_toml().replace("http://localhost:8080", gw.url)
    assert 'model = "gpt-4o"' in toml
    toml = toml.replace('model = "gpt-4o"', f'model = "{model}"', 1)
    # the README's [features] table gets the plugin sync switch too (one table per name in TOML)
    return toml.replace("[features]\n", "[features]\nplugins = false\n") + QUIET_TOML


def run_codex(
    codex: list[str], gw: GatewayProcess, tmp_path: Path, trap: ProxyTrap, model: str, prompt: str
) -> str:
    home = tmp_path / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(codex_config(gw, model), encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text(NOTES, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "TMPDIR": str(tmp_path),
        "BIFROST_API_KEY": "unused",
        **{name: trap.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [*codex, "exec", "--skip-git-repo-check", prompt], cwd=project, env=env, capture_output=True, text=True,
        timeout=180, stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 0, f"codex failed:\n{done.stdout}\n{done.stderr}\ngateway:\n{gw.logs()}"
    for secret in (*KEY_VALUES, ANTHROPIC_KEY):
        assert secret not in done.stdout + done.stderr
    assert trap.seen == [], f"Codex tried to reach more than the gateway: {trap.seen}"
    return done.stdout.strip()


def gateway_config(fake_url: str, logs_db: Path) -> dict[str, Any]:
    return openai_config(
        fake_url,
        providers={
            "anthropic": {
                "keys": [{"name": "main", "value": ANTHROPIC_KEY, "models": ["*"]}],
                "network_config": {"base_url": fake_url},
            }
        },
        logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(logs_db)}},
    )


def tool_loop(call_id: str) -> list[dict[str, Any]]:
    return [
        {
            "reply": "Reading.",
            "tool_calls": [{"id": call_id, "name": "exec_command", "arguments": {"cmd": "cat notes.txt"}}],
        },
        {"reply": "The secret word is pineapple."},
    ]


def test_codex_exec_to_openai_passed_through(
    codex: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    gw = start_gateway(gateway_config(fake.url, tmp_path / "logs.db"))
    fake.control.script(*tool_loop("call_01cat"))

    printed = run_codex(codex, gw, tmp_path, trap, "gpt-4o", "What is the secret word in notes.txt?")

    assert printed == "The secret word is pineapple."
    first, second = fake.control.log()
    for request in (first, second):
        assert request["path"] == "/v1/responses"
        assert request["body"]["model"] == "gpt-4o" and request["body"]["stream"] is True
        assert request["key"] == "sk-test-main"
        assert "exec_command" in {t.get("name") for t in request["body"]["tools"]}
    call, output = second["body"]["input"][-2:]
    assert (call["type"], call["call_id"], call["name"]) == ("function_call", "call_01cat", "exec_command")
    assert output["type"] == "function_call_output" and output["call_id"] == "call_01cat"
    assert "The secret word is pineapple." in output["output"]
    records = logged(gw, 2)
    assert {(r["method"], r["model_requested"], r["provider"], r["model"]) for r in records} == {
        ("responses", "gpt-4o", "openai", "gpt-4o")
    }


def test_codex_exec_to_anthropic_translated(
    codex: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    gw = start_gateway(gateway_config(fake.url, tmp_path / "logs.db"))
    fake.control.script(*tool_loop("toolu_01cat"))

    printed = run_codex(codex, gw, tmp_path, trap, "anthropic/claude-sonnet-4-5", "What is the secret word?")

    assert printed == "The secret word is pineapple."
    first, second = fake.control.log()
    for request in (first, second):
        assert request["path"] == "/v1/messages"
        assert request["body"]["model"] == "claude-sonnet-4-5" and request["body"]["stream"] is True
        assert request["key"] == ANTHROPIC_KEY
        assert "exec_command" in {t["name"] for t in request["body"]["tools"]}
    assistant, results = second["body"]["messages"][-2:]
    assert assistant["content"][-1] == {
        "type": "tool_use", "id": "toolu_01cat", "name": "exec_command", "input": {"cmd": "cat notes.txt"}
    }
    [result] = [b for b in results["content"] if b["type"] == "tool_result"]
    assert result["tool_use_id"] == "toolu_01cat"
    assert "The secret word is pineapple." in json.dumps(result["content"])
    records = logged(gw, 2)
    assert {(r["method"], r["provider"], r["model"]) for r in records} == {
        ("responses", "anthropic", "claude-sonnet-4-5")
    }
