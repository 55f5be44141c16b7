"""Claude Code (the real CLI, print mode) through the gateway to the fake provider, issue 15.

Each test runs ``claude -p`` against a real gateway process whose providers are the fake, then asserts what
the fake received (the upstream request: streaming, the tools list, the mid-conversation ``system`` message in
place or mapped, the beta headers), what the CLI printed, what ``/api/logs`` recorded, and that the CLI reached
nothing but the gateway (`ProxyTrap`). The CLI's version is pinned (``claude_cli.VERSION``), so the default
model it asks for and the shape of its requests are fixed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_cli import (
    CLIENT_KEY,
    DEFAULT_MODEL,
    MID_CONVERSATION_BETA,
    ProxyTrap,
    claude_command,
    run_claude,
)

from bifrost.config import jsonc
from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory, GatewayProcess, http_get, openai_config

README = Path(__file__).resolve().parents[2] / "README.md"
ANTHROPIC_KEY = "sk-ant-test-upstream"
NOTES = "The secret word is pineapple.\n"
# a 1x1 PNG: Read on it sends an image block inside the tool_result
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
REFUSAL = 'Unexpected role "system". The input message role must be "user" or "assistant".'


@pytest.fixture(scope="module")
def claude() -> list[str]:
    return claude_command()


@pytest.fixture
def trap() -> Iterator[ProxyTrap]:
    proxy = ProxyTrap()
    yield proxy
    proxy.close()


def agents_config(fake_url: str, logs_db: Path, **overrides: Any) -> dict[str, Any]:
    """The typical config plus an anthropic provider on the fake serving every model, and the log store."""
    return openai_config(
        fake_url,
        providers={
            "anthropic": {
                "keys": [{"name": "main", "value": ANTHROPIC_KEY, "models": ["*"]}],
                "network_config": {"base_url": fake_url},
            }
        },
        logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(logs_db)}},
        **overrides,
    )


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text(NOTES, encoding="utf-8")
    (folder / "dot.png").write_bytes(PNG)
    return folder


def read_loop(folder: Path, id_prefix: str, files: tuple[str, ...], thinking: str | None = None) -> list[Any]:
    """The fake's two answers for a tool loop: `Read` each file (ids ``<prefix>01<stem>``...), then the word."""
    ask: dict[str, Any] = {
        "reply": "Let me read it.",
        "tool_calls": [
            {"id": f"{id_prefix}{i:02d}{Path(n).stem}", "name": "Read", "arguments": {"file_path": str(folder / n)}}
            for i, n in enumerate(files, 1)
        ],
    }
    if thinking is not None:
        ask["thinking"] = thinking
    return [ask, {"reply": "The secret word is pineapple."}]


def claude_run(
    claude: list[str],
    gw: GatewayProcess,
    tmp_path: Path,
    trap: ProxyTrap,
    prompt: str,
    model: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run the CLI; assert it succeeded, leaked no upstream key and reached nothing but the gateway."""
    done = run_claude(claude, gw.url + "/anthropic", tmp_path, prompt, trap=trap, model=model, extra_env=env)
    assert done.returncode == 0, f"claude failed:\n{done.stdout}\n{done.stderr}\ngateway:\n{gw.logs()}"
    for secret in (*KEY_VALUES, ANTHROPIC_KEY):
        assert secret not in done.stdout + done.stderr
    assert trap.seen == [], f"Claude Code tried to reach more than the gateway: {trap.seen}"
    return done.stdout.strip()


def logged(gw: GatewayProcess, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` records of ``/api/logs``, once the background writer has stored them."""
    deadline = time.monotonic() + 20
    while True:
        status, raw = http_get(gw.url + f"/api/logs?limit={count}")
        assert status == 200, raw
        logs: list[dict[str, Any]] = json.loads(raw)["logs"]
        if len(logs) >= count or time.monotonic() > deadline:
            return logs
        time.sleep(0.1)


def roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


def header(request: dict[str, Any], name: str) -> str | None:
    for key, value in request["headers"].items():
        if key.lower() == name:
            return str(value)
    return None


def tool_names(body: dict[str, Any]) -> set[str]:
    return {t.get("name") or t.get("function", {}).get("name") for t in body["tools"]}


CORE_TOOLS = {"Bash", "Read", "Edit", "Write", "WebFetch", "Agent"}


@pytest.mark.parametrize(("model", "upstream_model"), [(None, DEFAULT_MODEL), ("sonnet", "claude-sonnet-5")])
def test_default_model_and_sonnet_alias_native(
    claude: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap,
    model: str | None, upstream_model: str,
) -> None:
    """The run that failed with `messages.1.role: must be "user" or "assistant"`: the body reaches the
    Anthropic upstream as sent, mid-conversation system message, betas and new fields included."""
    gw = start_gateway(agents_config(fake.url, tmp_path / "logs.db"))
    project(tmp_path)
    fake.control.script({"reply": "Hi from the fake, via Bifrost"})

    printed = claude_run(claude, gw, tmp_path, trap, "Say hi", model)

    assert printed == "Hi from the fake, via Bifrost"
    [request] = fake.control.log()
    body = request["body"]
    assert request["path"] == "/v1/messages"
    assert body["model"] == upstream_model
    assert body["stream"] is True
    assert tool_names(body) >= CORE_TOOLS
    # the mid-conversation system message, where Claude Code put it
    assert roles(body) == ["user", "system"]
    assert isinstance(body["messages"][1]["content"], str) and body["messages"][1]["content"]
    # fields the gateway does not need to understand, passed on for the upstream to judge
    assert {"thinking", "context_management", "metadata", "system", "max_tokens"} <= set(body)
    assert any("cache_control" in block for block in body["system"])
    assert MID_CONVERSATION_BETA in (header(request, "anthropic-beta") or "").split(",")
    assert header(request, "anthropic-version") == "2023-06-01"
    assert header(request, "x-api-key") == ANTHROPIC_KEY  # the gateway's key, never the client's
    assert CLIENT_KEY not in json.dumps(request["headers"])

    [record] = logged(gw, 1)
    assert record["route"] == "anthropic" and record["status"] == 200 and record["stream"] is True
    assert record["model_requested"] == upstream_model  # Claude Code resolves `sonnet` itself
    assert (record["provider"], record["model"]) == ("anthropic", upstream_model)


def test_tool_loop_with_read_native(
    claude: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    """The fake asks for `Read` (text file and image); the tool results come back; the answer prints."""
    gw = start_gateway(agents_config(fake.url, tmp_path / "logs.db"))
    folder = project(tmp_path)
    fake.control.script(*read_loop(folder, "toolu_", ("notes.txt", "dot.png"), thinking="I should read the file."))

    printed = claude_run(claude, gw, tmp_path, trap, "What is the secret word in notes.txt?")

    assert printed == "The secret word is pineapple."
    first, second = fake.control.log()
    assert first["body"]["stream"] is True and second["body"]["stream"] is True
    assert roles(second["body"]) == ["user", "system", "assistant", "user"]
    assistant, results = second["body"]["messages"][2:]
    assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert assistant["content"][0]["signature"]  # the upstream's thinking block comes back signed, untouched
    read, image = results["content"]
    assert (read["type"], read["tool_use_id"]) == ("tool_result", "toolu_01notes")
    assert "The secret word is pineapple." in read["content"]
    assert (image["type"], image["tool_use_id"]) == ("tool_result", "toolu_02dot")
    assert image["content"][0]["type"] == "image"
    assert image["content"][0]["source"]["data"] == base64.b64encode(PNG).decode()

    records = logged(gw, 2)
    assert [r["model_requested"] for r in records] == [DEFAULT_MODEL, DEFAULT_MODEL]


def test_openai_model_through_translation_with_tool_loop(
    claude: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    """``--model openai/gpt-4o``: the Anthropic request is translated, mid-conversation system message
    included (a system message at the same place), and the tool loop works through the translation."""
    gw = start_gateway(agents_config(fake.url, tmp_path / "logs.db"))
    folder = project(tmp_path)
    fake.control.script(*read_loop(folder, "call_", ("notes.txt", "dot.png")))

    printed = claude_run(claude, gw, tmp_path, trap, "What is the secret word in notes.txt?", "openai/gpt-4o")

    assert printed == "The secret word is pineapple."
    first, second = fake.control.log()
    for request in (first, second):
        body = request["body"]
        assert request["path"] == "/v1/chat/completions"
        assert body["model"] == "gpt-4o"
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert tool_names(body) >= CORE_TOOLS
        assert all(t["type"] == "function" and "cache_control" not in t for t in body["tools"])
        # dropped by the translator's documented rules
        assert not {"thinking", "context_management", "output_config", "metadata", "user"} & set(body)
        assert header(request, "authorization") == "Bearer sk-test-main"
    # leading system prompt, the user turn, then the mid-conversation system message in its place
    assert roles(first["body"]) == ["system", "user", "system"]
    mid = first["body"]["messages"][2]["content"]
    assert isinstance(mid, str) and mid and mid not in first["body"]["messages"][0]["content"]
    assert roles(second["body"]) == ["system", "user", "system", "assistant", "tool", "tool", "user"]
    assistant, read, image, moved = second["body"]["messages"][3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_01notes", "call_02dot"]
    assert read["tool_call_id"] == "call_01notes" and "The secret word is pineapple." in read["content"]
    assert image["tool_call_id"] == "call_02dot"
    assert moved["content"][0]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()

    records = logged(gw, 2)
    assert {(r["route"], r["model_requested"], r["provider"], r["model"]) for r in records} == {
        ("anthropic", "openai/gpt-4o", "openai", "gpt-4o")
    }


def readme_block(heading: str, language: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start:section.index("```", start)]


def test_readme_model_mapping_answers_the_default_model_with_gpt_4o(
    claude: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    """The README's mapping, as written there: Claude Code asks for its default Claude model and gets
    ``openai/gpt-4o`` through the key's ``aliases``; nothing changes on the Claude Code side but the README's
    ``CLAUDE_CODE_MAX_OUTPUT_TOKENS``."""
    readme_key = jsonc.loads(readme_block("**Model mapping.**", "jsonc"))["providers"]["openai"]["keys"][0]
    assert readme_key["aliases"][DEFAULT_MODEL] == "gpt-4o"
    config = agents_config(fake.url, tmp_path / "logs.db")
    config["providers"]["openai"]["keys"] = [{**readme_key, "value": "sk-test-main"}]
    gw = start_gateway(config)
    project(tmp_path)
    fake.control.script({"reply": "Answered by gpt-4o"})

    printed = claude_run(claude, gw, tmp_path, trap, "Say hi", env={"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384"})

    assert printed == "Answered by gpt-4o"
    [request] = fake.control.log()
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "gpt-4o"
    assert request["body"]["max_tokens"] == 16384  # gpt-4o's output limit, from the README's variable
    assert roles(request["body"]) == ["system", "user", "system"]
    [record] = logged(gw, 1)
    assert (record["model_requested"], record["provider"], record["model"]) == (DEFAULT_MODEL, "openai", "gpt-4o")
    assert record["route"] == "anthropic"  # what the README's jq filter selects


def test_refusal_wording_makes_claude_code_fold_the_system_message(
    claude: list[str], fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, trap: ProxyTrap
) -> None:
    """An upstream (or the translator) that cannot take a mid-conversation system message answers 400 with
    Anthropic's wording; Claude Code recognizes it and retries at once with the text in the user turn."""
    gw = start_gateway(agents_config(fake.url, tmp_path / "logs.db"))
    project(tmp_path)
    fake.control.script(
        {"status": 400, "error_type": "invalid_request_error", "error_message": REFUSAL},
        {"reply": "Folded and answered"},
    )

    printed = claude_run(claude, gw, tmp_path, trap, "Say hi")

    assert printed == "Folded and answered"
    refused, retried = fake.control.log()
    assert roles(refused["body"]) == ["user", "system"]
    assert "system" not in roles(retried["body"])
    assert MID_CONVERSATION_BETA not in (header(retried, "anthropic-beta") or "")
    mid = refused["body"]["messages"][1]["content"]
    [turn] = retried["body"]["messages"]
    folded = turn["content"][0]["text"]
    assert folded.startswith("<system-reminder>") and mid.splitlines()[0] in folded
