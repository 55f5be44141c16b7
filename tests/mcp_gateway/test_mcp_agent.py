"""Agent mode (the gateway runs auto-executable tools and asks the model again) and the guide's example."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from mcp_helpers import CLAUDE, mcp_config, served_root, stdio_client, wait_state

from bifrost.config import jsonc
from harness import GatewayFactory, GatewayProcess

CONFIG_JSON = '{"providers": {"openai": {"keys": ["..."]}, "anthropic": {"keys": ["..."]}}}\n'
QUESTION = "Read the config.json file and tell me about the providers"


@pytest.fixture(scope="module")
def gw(
    start_module_gateway: GatewayFactory, fake_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> GatewayProcess:
    root = served_root(tmp_path_factory, CONFIG_JSON)
    config = mcp_config(
        fake_server.url,
        [stdio_client("filesystem", root, tools_to_auto_execute=["read_file", "list_directory", "fail"])],
        max_agent_depth=3,
    )
    gateway = start_module_gateway(config)
    wait_state(gateway, "filesystem")
    return gateway


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client", max_retries=0, timeout=30)


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def test_the_guides_example_end_to_end(gw: GatewayProcess, fake: Any) -> None:
    """"Read the config.json file and tell me about the providers", with a filesystem MCP server."""
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="config.json")]},
        {"reply": "Two providers are configured: openai and anthropic."},
    )
    response = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}]
    )
    assert response.choices[0].message.content == "Two providers are configured: openai and anthropic."
    assert response.choices[0].finish_reason == "stop"
    first, second = fake.control.log()[-2:]
    assert "filesystem-read_file" in [t["function"]["name"] for t in first["body"]["tools"]]
    messages = second["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "filesystem-read_file"
    assert messages[2] == {"role": "tool", "tool_call_id": messages[1]["tool_calls"][0]["id"], "content": CONFIG_JSON}
    agent = response.model_extra["extra_fields"]["mcp_agent"]
    assert agent["rounds"] == 1 and agent["max_depth_reached"] is False
    [executed] = agent["executed"]
    assert (executed["name"], executed["client"], executed["ok"]) == ("filesystem-read_file", "filesystem", True)


def test_multi_round_with_concurrent_calls(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-list_directory"), tool_call("filesystem-read_file", path="notes.txt")]},
        {"tool_calls": [tool_call("filesystem-fail")]},
        {"reply": "done"},
    )
    response = client(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "go"}])
    assert response.choices[0].message.content == "done"
    log = fake.control.log()[-3:]
    second = log[1]["body"]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[2]["content"] == "config.json\nnotes.txt" and second[3]["content"] == "remember the milk\n"
    third = log[2]["body"]["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert third[-1]["content"].startswith("Error")  # a failing tool is reported to the model, not to the client
    agent = response.model_extra["extra_fields"]["mcp_agent"]
    assert agent["rounds"] == 2
    assert [(e["name"], e["ok"]) for e in agent["executed"]] == [
        ("filesystem-list_directory", True),
        ("filesystem-read_file", True),
        ("filesystem-fail", False),
    ]


def test_a_call_the_gateway_may_not_run_goes_back_to_the_client(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="notes.txt"), tool_call("filesystem-slow", seconds=0)]},
    )
    response = client(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "go"}])
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls] == ["filesystem-slow"]
    assert "remember the milk" in choice.message.content  # the auto call's result travels in the content
    assert len(fake.control.log()) == 1
    assert [e["name"] for e in response.model_extra["extra_fields"]["mcp_agent"]["executed"]] == [
        "filesystem-read_file"
    ]


def test_the_clients_own_tool_stops_the_loop_untouched(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script({"tool_calls": [tool_call("get_weather", city="Paris")]})
    response = client(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    )
    assert [c.function.name for c in response.choices[0].message.tool_calls] == ["get_weather"]
    assert response.model_extra["extra_fields"]["mcp_agent"]["executed"] == []


def test_max_agent_depth_stops_the_loop(gw: GatewayProcess, fake: Any) -> None:
    fake.control.rules({"tool_calls": [tool_call("filesystem-list_directory")]})
    response = client(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "loop"}])
    assert len(fake.control.log()) == 4  # the first call and max_agent_depth (3) more
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.tool_calls[0].function.name == "filesystem-list_directory"
    agent = response.model_extra["extra_fields"]["mcp_agent"]
    assert (agent["rounds"], agent["max_depth_reached"], len(agent["executed"])) == (3, True, 3)


def test_streaming_agent_mode_runs_tool_rounds_then_streams_the_answer(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="config.json")]},
        {"reply": "Two providers: openai and anthropic."},
    )
    with client(gw).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}], stream=True
    ) as raw:
        lines = [line for line in raw.iter_lines() if line]
    comments = [json.loads(line[len(": bifrost-mcp "):]) for line in lines if line.startswith(": bifrost-mcp ")]
    assert comments == [
        {"tool": "filesystem-read_file", "status": "running"},
        {"tool": "filesystem-read_file", "status": "ok"},
    ]
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "Two providers: openai and anthropic."
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    finishes = [f for f in finishes if f]
    assert finishes == ["stop"]  # one message: the tool round's finish is not sent
    assert not any(c["choices"][0]["delta"].get("tool_calls") for c in chunks if c.get("choices"))
    assert lines[-1] == "data: [DONE]"
    second = fake.control.log()[-1]
    assert second["body"]["stream"] is True
    assert second["body"]["messages"][-1]["content"] == CONFIG_JSON
    # the SDK reads the same stream as one answer
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="notes.txt")]}, {"reply": "milk"}
    )
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "notes?"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "milk"


def test_streaming_returns_calls_the_gateway_may_not_run(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script({"tool_calls": [tool_call("filesystem-slow", seconds=0)]})
    stream = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    chunks = [c for c in stream if c.choices]
    calls = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
    assert [tc.function.name for tc in calls if tc.function and tc.function.name] == ["filesystem-slow"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert len(fake.control.log()) == 1


def test_the_readme_example_config_runs(start_gateway: GatewayFactory, fake: Any) -> None:
    """examples/mcp/config.json and its filesystem server, with the upstream pointed at the fake."""
    repo = Path(__file__).resolve().parents[2]
    config = jsonc.loads((repo / "examples" / "mcp" / "config.json").read_text(encoding="utf-8"))
    config["providers"]["openai"]["network_config"] = {"base_url": fake.url}
    stdio = config["mcp"]["client_configs"][0]["stdio_config"]
    assert stdio["args"][0] == "examples/mcp/filesystem_server.py"
    # run from anywhere: the same server and root, by absolute path, with this interpreter
    stdio.update(command=sys.executable, args=[str(repo / stdio["args"][0]), "--root", str(repo / "examples/mcp")])
    gw = start_gateway(config, env={"OPENAI_API_KEY": "sk-example"})
    wait_state(gw, "filesystem")
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="config.json")]},
        {"reply": "One provider: openai."},
    )
    response = client(gw).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": QUESTION}]
    )
    assert response.choices[0].message.content == "One provider: openai."
    tool_message = fake.control.last()["body"]["messages"][-1]
    assert tool_message["role"] == "tool" and '"mcp"' in tool_message["content"]
    assert [e["name"] for e in response.model_extra["extra_fields"]["mcp_agent"]["executed"]] == [
        "filesystem-read_file"
    ]


@pytest.mark.parametrize("model", [CLAUDE, "openai/gpt-4o-mini"])
def test_agent_mode_on_the_anthropic_route(gw: GatewayProcess, fake: Any, model: str) -> None:
    ant = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="x", max_retries=0, timeout=30)
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="config.json")]},
        {"reply": "Two providers."},
    )
    message = ant.messages.create(model=model, max_tokens=200, messages=[{"role": "user", "content": QUESTION}])
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Two providers."
    assert message.stop_reason == "end_turn"
    second = fake.control.last()
    text = json.dumps(second["body"]["messages"])
    assert "config.json" in text and "anthropic" in text  # the tool's result went back to the model
    fake.control.script(
        {"tool_calls": [tool_call("filesystem-read_file", path="notes.txt")]},
        {"reply": "Milk."},
    )
    with ant.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "notes?"}]) as s:
        assert "".join(s.text_stream) == "Milk."
        assert s.get_final_message().stop_reason == "end_turn"
