"""Conformance cells for what coding agents send on day one (issue 15): mid-conversation ``system`` messages,
and fields, block types and betas the gateway does not need to understand. Natively they reach Anthropic
exactly as sent; translated they map, or are dropped or refused by the translator's documented rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess

from .helpers import (
    anthropic_client,
    anthropic_message,
    check_anthropic_upstream,
    check_openai_upstream,
    model_for,
    raw_post,
    upstream,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, CLAUDE, GPT, cells

MID_BETA = "mid-conversation-system-2026-04-07"
BETAS = f"claude-code-20250219,{MID_BETA},some-future-beta-2099-01-01"
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "List the files."},
    {"role": "assistant", "content": "a.py, b.py"},
    {"role": "system", "content": [{"type": "text", "text": "The user prefers short answers."}]},
    {"role": "user", "content": "Which is bigger?"},
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("col", cells("mid-conversation system message", *ANTHROPIC_ROUTE))
def test_mid_conversation_system_message(gateway: GatewayProcess, fake: FakeProvider, col: str, stream: bool) -> None:
    fake.control.script({"reply": "b.py"})
    kwargs: dict[str, Any] = {
        "model": model_for(col), "max_tokens": 64, "system": "You are a coding agent.", "messages": CONVERSATION,
        "extra_headers": {"anthropic-beta": BETAS},
    }
    if stream:
        with anthropic_client(gateway).messages.stream(**kwargs) as events:
            text = events.get_final_message().content[0]
    else:
        text = anthropic_message(gateway, **kwargs).obj.content[0]
    assert text.type == "text" and text.text == "b.py"
    req = upstream(fake)
    if col == ANTHROPIC_NATIVE:
        body = check_anthropic_upstream(req, version=anthropic_client(gateway).default_headers["anthropic-version"])
        assert req["headers"]["anthropic-beta"] == BETAS
        assert body["messages"] == CONVERSATION  # in place, untouched
        assert body.get("stream", False) is stream
    else:
        body = check_openai_upstream(req)
        assert body["messages"] == [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "List the files."},
            {"role": "assistant", "content": "a.py, b.py"},
            {"role": "system", "content": "The user prefers short answers."},
            {"role": "user", "content": "Which is bigger?"},
        ]
        assert "anthropic-beta" not in req["headers"]


DAY_ONE: dict[str, Any] = {
    "max_tokens": 64,
    "system": [{"type": "text", "text": "Agent.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Search, then answer.", "cache_control": {"type": "ephemeral"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Let me search.", "signature": "c2ln"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "block_type_from_2027", "payload": {"anything": [1, 2]}},
        ]},
        {"role": "user", "content": "Go on."},
    ],
    "tools": [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"name": "Read", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
    ],
    "thinking": {"type": "adaptive"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "high"},
    "a_field_from_2027": {"on": True},
}


@pytest.mark.parametrize("col", cells("fields and blocks the gateway need not understand", *ANTHROPIC_ROUTE))
def test_fields_and_blocks_the_gateway_need_not_understand(
    gateway: GatewayProcess, fake: FakeProvider, col: str
) -> None:
    fake.control.script({"reply": "done"})
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": BETAS, "x-api-key": "sk-client-ignored"}
    status, _, raw = raw_post(gateway.url + "/anthropic/v1/messages", {"model": model_for(col), **DAY_ONE}, headers)
    body = json.loads(raw)
    if col == ANTHROPIC_NATIVE:
        assert status == 200, body
        req = upstream(fake)
        assert check_anthropic_upstream(req, version="2023-06-01") == {"model": CLAUDE, **DAY_ONE}
        assert req["headers"]["anthropic-beta"] == BETAS
        assert body["content"][0]["text"] == "done"
    else:
        # translated: server tool blocks, Anthropic server tools and unknown blocks cannot be expressed for
        # another provider, and are refused by name before any upstream call
        for content, tools, named in (
            (DAY_ONE["messages"][1]["content"], DAY_ONE["tools"], "server_tool_use"),
            (DAY_ONE["messages"][1]["content"][3:], DAY_ONE["tools"], "block_type_from_2027"),
            (DAY_ONE["messages"][1]["content"][:1], DAY_ONE["tools"], "web_search_20250305"),
        ):
            messages = [DAY_ONE["messages"][0], {"role": "assistant", "content": content}, DAY_ONE["messages"][2]]
            status, _, raw = raw_post(
                gateway.url + "/anthropic/v1/messages",
                {"model": model_for(col), **DAY_ONE, "messages": messages, "tools": tools},
                headers,
            )
            body = json.loads(raw)
            assert status == 400, body
            assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
            assert named in body["error"]["message"]
        assert fake.control.log() == []
        first, answer, last = DAY_ONE["messages"]
        thinking = answer["content"][0]
        without_server_parts = {
            **DAY_ONE,
            "tools": DAY_ONE["tools"][1:],
            "messages": [
                first, {"role": "assistant", "content": [thinking, {"type": "text", "text": "Found it."}]}, last
            ],
        }
        status, _, raw = raw_post(
            gateway.url + "/anthropic/v1/messages", {"model": model_for(col), **without_server_parts}, headers
        )
        assert status == 200, raw
        sent = check_openai_upstream(upstream(fake))
        # cache_control, thinking, context_management, output_config and unknown fields dropped by rule
        assert sent == {
            "model": GPT,
            "max_tokens": 64,
            "messages": [
                {"role": "system", "content": "Agent."},
                {"role": "user", "content": "Search, then answer."},
                {"role": "assistant", "content": "Found it."},
                {"role": "user", "content": "Go on."},
            ],
            "tools": [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}],
        }


@pytest.mark.parametrize("col", cells("count_tokens", ANTHROPIC_NATIVE))
def test_count_tokens_forwards_betas_and_drops_gateway_fields(
    gateway: GatewayProcess, fake: FakeProvider, col: str
) -> None:
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": BETAS}
    sent = {"model": CLAUDE, "messages": CONVERSATION, "context_management": DAY_ONE["context_management"]}
    status, _, raw = raw_post(
        gateway.url + "/anthropic/v1/messages/count_tokens", {**sent, "fallbacks": ["openai/gpt-4o"]}, headers
    )
    assert status == 200, raw
    assert json.loads(raw)["input_tokens"] > 0
    req = upstream(fake)
    assert req["path"] == "/v1/messages/count_tokens"
    assert req["headers"]["anthropic-beta"] == BETAS and req["headers"]["anthropic-version"] == "2023-06-01"
    assert req["body"] == sent  # as sent, without the gateway's own `fallbacks`


@pytest.mark.parametrize("col", cells("fields and blocks the gateway need not understand", ANTHROPIC_NATIVE))
def test_gateway_only_fields_never_reach_the_provider(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "ok"})
    sent = {"model": CLAUDE, "max_tokens": 16, "messages": CONVERSATION}
    status, _, raw = raw_post(
        gateway.url + "/anthropic/v1/messages", {**sent, "fallbacks": ["openai/gpt-4o"]},
        {"anthropic-version": "2023-06-01"},
    )
    assert status == 200, raw
    assert upstream(fake)["body"] == sent
