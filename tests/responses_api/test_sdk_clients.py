"""Agent frameworks that default to the Responses API, against a gateway whose target is Anthropic:
the Vercel AI SDK (``ai`` + ``@ai-sdk/openai``, default provider, driven by Node) and the OpenAI Agents SDK."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import JS_DIR, GatewayFactory, node_with_packages

from .helpers import CLAUDE, responses_config

ANTHROPIC_MODEL = f"anthropic/{CLAUDE}"


@pytest.fixture(scope="session")
def node_ai_sdk() -> str:
    """The ``node`` binary once tests/js has ``ai`` and ``@ai-sdk/openai``; skips without node/npm."""
    return node_with_packages("@ai-sdk/openai", "the Vercel AI SDK test")


def test_vercel_ai_sdk_generate_and_stream_text(
    node_ai_sdk: str, fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(responses_config(fake.url))
    fake.control.script(
        {"reply": "Hello from Claude via Bifrost"},
        {"reply": "Once upon a time in a gateway"},
        {"tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"reply": "It is sunny in Paris."},
    )
    done = subprocess.run(
        [node_ai_sdk, str(JS_DIR / "responses.mjs"), gw.v1_url, ANTHROPIC_MODEL],
        cwd=JS_DIR, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "OPENAI_API_KEY": "sk-node-client"},
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}\n{done.stdout}\ngateway:\n{gw.logs()}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["plain"]["text"] == "Hello from Claude via Bifrost"
    assert result["plain"]["finishReason"] == "stop"
    assert result["plain"]["usage"]["inputTokens"] > 0
    assert result["stream"]["text"] == "Once upon a time in a gateway" and result["stream"]["pieces"] > 2
    assert result["tool"]["toolResults"] == ["sunny in Paris"]
    assert result["tool"]["text"] == "It is sunny in Paris."
    received = fake.control.log()
    assert [r["path"] for r in received] == ["/v1/messages"] * 4
    last = received[-1]["body"]["messages"]
    assert last[-1]["content"][0]["type"] == "tool_result" and last[-1]["content"][0]["tool_use_id"] == "toolu_1"
    assert "sunny in Paris" in json.dumps(last[-1])


def test_openai_agents_sdk_runs_an_agent_with_a_function_tool(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    agents = pytest.importorskip("agents", reason="openai-agents is not installed")
    from openai import AsyncOpenAI

    gw = start_gateway(responses_config(fake.url))
    fake.control.script(
        {"tool_calls": [{"id": "toolu_9", "name": "add", "arguments": {"a": 2, "b": 3}}]},
        {"reply": "2 + 3 = 5"},
    )
    seen: list[tuple[int, int]] = []

    @agents.function_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        seen.append((a, b))
        return a + b

    client = AsyncOpenAI(base_url=gw.v1_url, api_key="sk-agents-client", max_retries=0)
    model = agents.OpenAIResponsesModel(model=ANTHROPIC_MODEL, openai_client=client)
    agent = agents.Agent(name="calc", instructions="Use the add tool.", tools=[add], model=model)
    result = agents.Runner.run_sync(agent, "What is 2 + 3?", run_config=agents.RunConfig(tracing_disabled=True))
    assert result.final_output == "2 + 3 = 5"
    assert seen == [(2, 3)]
    received = fake.control.log()
    assert [r["path"] for r in received] == ["/v1/messages", "/v1/messages"]
    assert received[0]["body"]["system"] == "Use the add tool."
    assert received[0]["body"]["tools"][0]["name"] == "add"
    tool_result = received[1]["body"]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_9"
    assert tool_result["content"] == "5"
