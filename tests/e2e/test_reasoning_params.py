"""Reasoning-model parameters across wires (issue 11, item 8): a request translated to the OpenAI wire for a
reasoning model (o-series, gpt-5 family) sends ``max_completion_tokens``; Anthropic extended thinking becomes
``reasoning_effort`` for OpenAI and ``thinkingConfig`` for Gemini."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    network = {"base_url": fake_server.url}
    yield start_module_gateway({"providers": {
        "openai": {"keys": [{"value": "sk-reason-key"}], "network_config": network},
        "gemini": {"keys": [{"value": "gk-reason-key"}], "network_config": network},
    }})


def ask(gw: GatewayProcess, model: str, **kwargs: Any) -> Any:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="ignored", max_retries=0)
    return client.messages.create(model=model, max_tokens=300, messages=[{"role": "user", "content": "Hi"}], **kwargs)


@pytest.mark.parametrize("model", ["gpt-5.1", "o3-mini", "o1"])
def test_reasoning_model_gets_max_completion_tokens(gateway: GatewayProcess, fake: FakeProvider, model: str) -> None:
    msg = ask(gateway, f"openai/{model}", extra_body={"temperature": 0.7})
    assert msg.content[0].text == f"Hello from fake {model}!"
    body = fake.control.last()["body"]
    assert body == {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 300}


def test_other_openai_model_keeps_max_tokens(gateway: GatewayProcess, fake: FakeProvider) -> None:
    ask(gateway, "openai/gpt-4o", extra_body={"temperature": 0.7}, thinking={"type": "enabled", "budget_tokens": 2048})
    body = fake.control.last()["body"]
    assert body["max_tokens"] == 300 and body["temperature"] == 0.7
    assert "reasoning_effort" not in body  # OpenAI refuses it on a model without reasoning


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (4000, "medium"), (20000, "high")])
def test_extended_thinking_becomes_reasoning_effort(
    gateway: GatewayProcess, fake: FakeProvider, budget: int, effort: str
) -> None:
    ask(gateway, "openai/gpt-5.1", thinking={"type": "enabled", "budget_tokens": budget})
    assert fake.control.last()["body"]["reasoning_effort"] == effort


def test_extended_thinking_becomes_thinking_config(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "42", "thinking": "Deep thought."})
    msg = ask(gateway, "gemini/gemini-2.5-flash", thinking={"type": "enabled", "budget_tokens": 20000})
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "42"
    req = fake.control.last()
    assert req["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert req["body"]["generationConfig"] == {
        "maxOutputTokens": 300, "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True}
    }
