"""MCP tools on the Responses route (`/v1/responses`) and the Gemini drop-in (`/genai`): injected natively
(Responses function tools, Gemini functionDeclarations) or on the canonical chat request, in a stable order
after the client's own tools, and agent mode on both routes (through the canonical chat shape)."""

from __future__ import annotations

import functools
import json
from typing import Any

import openai
import pytest
from google import genai
from google.genai import types
from mcp_helpers import CLAUDE, mcp_config, served_root, stdio_client, wait_state

from harness import GatewayFactory, GatewayProcess

GEMINI = "gemini-2.5-flash"
CONFIG_JSON = '{"providers": {"openai": {"keys": ["..."]}}}\n'
TOOLS = ["add_tool", "die", "fail", "list_directory", "read_file", "slow"]
FILES = [f"files-{t}" for t in TOOLS]  # no auto-execution: plain injection, native pass-through kept
ONLY_FILES = {"x-bf-mcp-include-clients": "files"}
ONLY_AGENT = {"x-bf-mcp-include-clients": "agent"}  # read_file and list_directory auto-executed


@pytest.fixture(scope="module")
def gw(
    start_module_gateway: GatewayFactory, fake_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> GatewayProcess:
    root = served_root(tmp_path_factory, CONFIG_JSON)
    config = mcp_config(
        fake_server.url,
        [
            stdio_client("files", root),
            stdio_client("agent", root, tools_to_execute=["read_file", "list_directory"],
                         tools_to_auto_execute=["read_file", "list_directory"]),
        ],
        max_agent_depth=3,
    )
    config["providers"]["gemini"] = {
        "keys": [{"name": "g", "value": "gk-mcp-test", "models": [GEMINI]}],
        "network_config": {"base_url": fake_server.url},
    }
    gateway = start_module_gateway(config)
    wait_state(gateway, "files")
    wait_state(gateway, "agent")
    return gateway


def oai(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1_url, api_key="sk-client", max_retries=0, timeout=30)


@functools.cache
def gem(url: str, headers: tuple[tuple[str, str], ...]) -> genai.Client:
    options = types.HttpOptions(
        base_url=url + "/genai", api_version="v1beta", headers=dict(headers),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key="client-key-ignored", http_options=options)


def names(request: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for tool in request["body"].get("tools") or ():
        if "functionDeclarations" in tool:
            out.extend(d["name"] for d in tool["functionDeclarations"])
        else:
            out.append(tool["function"]["name"] if "function" in tool else tool["name"])
    return out


WEATHER_RESPONSES = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
WEATHER_GEMINI = types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather", description="w")])


# --- /v1/responses ---------------------------------------------------------------------------------------


def test_responses_native_gets_mcp_function_tools_after_its_own_in_stable_order(gw: GatewayProcess, fake: Any) -> None:
    for _ in range(2):
        reply = oai(gw).responses.create(
            model="gpt-4o-mini", input="hi", tools=[WEATHER_RESPONSES], extra_headers=ONLY_FILES  # type: ignore[list-item]
        )
        assert reply.output_text
    first, second = fake.control.log()[-2:]
    assert first["path"] == "/v1/responses"
    assert names(first) == ["get_weather", *FILES]
    read = next(t for t in first["body"]["tools"] if t["name"] == "files-read_file")
    assert read["type"] == "function" and read["parameters"]["required"] == ["path"]
    assert read["description"].startswith("Read a UTF-8 text file")
    assert json.dumps(first["body"]["tools"]) == json.dumps(second["body"]["tools"])  # byte-identical prefix


def test_responses_a_client_tool_with_an_mcp_name_wins(gw: GatewayProcess, fake: Any) -> None:
    mine = {"type": "function", "name": "files-read_file", "description": "mine", "parameters": {"type": "object"}}
    oai(gw).responses.create(model="gpt-4o-mini", input="x", tools=[mine], extra_headers=ONLY_FILES)  # type: ignore[list-item]
    sent = fake.control.last()["body"]["tools"]
    assert [t for t in sent if t["name"] == "files-read_file"] == [mine]
    assert names(fake.control.last()) == ["files-read_file", *(n for n in FILES if n != "files-read_file")]


def test_responses_through_chat_to_anthropic_gets_the_tools(gw: GatewayProcess, fake: Any) -> None:
    reply = oai(gw).responses.create(
        model=f"anthropic/{CLAUDE}", input="hi", tools=[WEATHER_RESPONSES], extra_headers=ONLY_FILES  # type: ignore[list-item]
    )
    assert reply.output_text
    sent = fake.control.last()
    assert sent["path"] == "/v1/messages"
    assert names(sent) == ["get_weather", *FILES]
    read = next(t for t in sent["body"]["tools"] if t["name"] == "files-read_file")
    assert read["input_schema"]["required"] == ["path"]


def test_responses_agent_mode_runs_the_tools_and_answers(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [{"name": "agent-read_file", "arguments": {"path": "notes.txt"}}]},
        {"reply": "You must remember the milk."},
    )
    reply = oai(gw).responses.create(model="gpt-4o-mini", input="what do my notes say?", extra_headers=ONLY_AGENT)
    assert reply.output_text == "You must remember the milk."
    first, second = fake.control.log()[-2:]
    # agent mode is served on the chat shape, even for a provider with the Responses API
    assert first["path"] == second["path"] == "/v1/chat/completions"
    assert names(first) == ["agent-list_directory", "agent-read_file"]
    messages = second["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[2]["content"] == "remember the milk\n"
    agent = reply.model_extra["extra_fields"]["mcp_agent"]  # type: ignore[index]
    assert agent["rounds"] == 1 and [e["name"] for e in agent["executed"]] == ["agent-read_file"]
    stored = oai(gw).responses.retrieve(reply.id)
    assert stored.output_text == "You must remember the milk."


def test_responses_streaming_agent_mode(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [{"name": "agent-list_directory", "arguments": {}}]},
        {"reply": "Two files."},
    )
    with oai(gw).responses.stream(model="gpt-4o-mini", input="list", extra_headers=ONLY_AGENT) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Two files." == final.output_text
    second = fake.control.last()["body"]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": second[-2]["tool_calls"][0]["id"],
                          "content": "config.json\nnotes.txt"}


# --- /genai ----------------------------------------------------------------------------------------------


def test_genai_native_gets_function_declarations_after_its_own_in_a_stable_order(gw: GatewayProcess, fake: Any) -> None:
    client = gem(gw.url, tuple(ONLY_FILES.items()))
    config = types.GenerateContentConfig(tools=[WEATHER_GEMINI])
    for _ in range(2):
        assert client.models.generate_content(model=GEMINI, contents="hi", config=config).text
    first, second = fake.control.log()[-2:]
    assert first["path"] == f"/v1beta/models/{GEMINI}:generateContent"
    assert names(first) == ["get_weather", *FILES]
    mcp_tool = first["body"]["tools"][-1]
    read = next(d for d in mcp_tool["functionDeclarations"] if d["name"] == "files-read_file")
    assert read["parametersJsonSchema"]["required"] == ["path"]
    assert json.dumps(first["body"]["tools"]) == json.dumps(second["body"]["tools"])


def test_genai_to_openai_gets_the_tools_on_the_canonical_request(gw: GatewayProcess, fake: Any) -> None:
    client = gem(gw.url, tuple(ONLY_FILES.items()))
    config = types.GenerateContentConfig(tools=[WEATHER_GEMINI])
    assert client.models.generate_content(model="openai/gpt-4o-mini", contents="hi", config=config).text
    sent = fake.control.last()
    assert sent["path"] == "/v1/chat/completions"
    assert names(sent) == ["get_weather", *FILES]


@pytest.mark.parametrize("model", [GEMINI, "openai/gpt-4o-mini"])
def test_genai_agent_mode_runs_the_tools_and_answers(gw: GatewayProcess, fake: Any, model: str) -> None:
    fake.control.script(
        {"tool_calls": [{"name": "agent-read_file", "arguments": {"path": "notes.txt"}}]},
        {"reply": "You must remember the milk."},
    )
    client = gem(gw.url, tuple(ONLY_AGENT.items()))
    reply = client.models.generate_content(model=model, contents="what do my notes say?")
    assert reply.text == "You must remember the milk."
    first, second = fake.control.log()[-2:]
    assert names(first) == ["agent-list_directory", "agent-read_file"]
    if model == GEMINI:
        contents = second["body"]["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user"]
        assert contents[2]["parts"][0]["functionResponse"]["name"] == "agent-read_file"
    else:
        messages = second["body"]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
        assert messages[2]["content"] == "remember the milk\n"


def test_genai_streaming_agent_mode(gw: GatewayProcess, fake: Any) -> None:
    fake.control.script(
        {"tool_calls": [{"name": "agent-list_directory", "arguments": {}}]},
        {"reply": "Two files."},
    )
    client = gem(gw.url, tuple(ONLY_AGENT.items()))
    chunks = client.models.generate_content_stream(model="openai/gpt-4o-mini", contents="ls")
    text = "".join(c.text or "" for c in chunks)
    assert text == "Two files."
    assert fake.control.last()["body"]["messages"][-1]["content"] == "config.json\nnotes.txt"


def test_responses_agent_mode_refuses_openai_built_in_tools_clearly(gw: GatewayProcess, fake: Any) -> None:
    before = len(fake.control.log())
    with pytest.raises(openai.BadRequestError) as err:
        oai(gw).responses.create(
            model="gpt-4o-mini", input="x", tools=[{"type": "web_search"}], extra_headers=ONLY_AGENT  # type: ignore[list-item]
        )
    assert "web_search" in err.value.message
    assert len(fake.control.log()) == before  # refused before any upstream call
    # without auto-executable tools the same request is passed through natively, MCP tools added
    oai(gw).responses.create(model="gpt-4o-mini", input="x", tools=[{"type": "web_search"}], extra_headers=ONLY_FILES)  # type: ignore[list-item]
    sent = fake.control.last()
    assert sent["path"] == "/v1/responses" and sent["body"]["tools"][0] == {"type": "web_search"}
    assert [t["name"] for t in sent["body"]["tools"][1:]] == FILES


def test_genai_native_leaves_a_malformed_tools_field_to_the_upstream(gw: GatewayProcess, fake: Any) -> None:
    import urllib.request

    url = f"{gw.url}/genai/v1beta/models/{GEMINI}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": "nope"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **ONLY_FILES})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=20) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 400  # Gemini's own answer, relayed; nothing added to a field the client got wrong
    assert fake.control.last()["body"]["tools"] == "nope"
