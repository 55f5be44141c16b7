"""The Anthropic -> OpenAI translator on the requests the real Claude Code sends (issue 15).

The fixtures in ``fixtures/claude_code/`` are real requests of ``@anthropic-ai/claude-code`` 2.1.197, captured
through the gateway and stripped by ``tests/agents/capture_fixtures.py`` (rerun it after a version bump).
Every message role and block type they hold is translated here and checked against OpenAI's spec.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared openapi_schema helper
from bifrost.integrations.anthropic import anthropic_request_to_openai
from bifrost.providers.anthropic.translate import TranslationError
from openapi_schema import validate_openai

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claude_code"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
MID_CONVERSATION_BETA = "mid-conversation-system-2026-04-07"
REFUSAL_WORDS = ("Unexpected role", "input message role")  # what Claude Code's retry logic looks for


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def translate(body: dict[str, Any]) -> dict[str, Any]:
    out = anthropic_request_to_openai(body)
    validate_openai("CreateChatCompletionRequest", out)
    return out


def kinds(body: dict[str, Any]) -> set[str]:
    """Every (role, block type) the request holds, tool-result contents included."""
    found: set[str] = set()
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            found.add(f"{message['role']}:string")
            continue
        for block in content:
            found.add(f"{message['role']}:{block['type']}")
            inner = block.get("content") if block["type"] == "tool_result" else None
            if isinstance(inner, list):
                found.update(f"tool_result:{item['type']}" for item in inner)
            elif isinstance(inner, str):
                found.add("tool_result:string")
    return found


def test_fixtures_cover_every_block_type_claude_code_sends() -> None:
    assert NAMES == [
        "default_model_first_turn",
        "default_model_tool_results",
        "haiku_first_turn",
        "mid_system_folded_retry",
        "openai_model_first_turn",
    ]
    seen = set().union(*(kinds(load(name)["body"]) for name in NAMES))
    assert seen == {
        "system:string",
        "user:text",
        "user:tool_result",
        "user:document",
        "tool_result:string",
        "tool_result:image",
        "assistant:thinking",
        "assistant:text",
        "assistant:tool_use",
    }
    fields = set().union(*(load(name)["body"] for name in NAMES))
    assert fields == {
        "model", "messages", "system", "tools", "metadata", "max_tokens", "thinking", "context_management",
        "output_config", "stream",
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_captured_request_translates(name: str) -> None:
    body = load(name)["body"]
    out = translate(body)
    # documented drops: no equivalent every OpenAI-wire model accepts; enabled thinking (haiku's, with a
    # budget) becomes reasoning_effort, adaptive thinking (the default model's) sends nothing
    enabled = body["thinking"]["type"] == "enabled"
    assert set(out) == {"model", "messages", "max_tokens", "stream", "stream_options", "tools"} | (
        {"reasoning_effort"} if enabled else set()
    )
    if enabled:
        assert out["reasoning_effort"] == "high"  # budget 31999
    assert out["max_tokens"] == body["max_tokens"]
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert len(body["metadata"]["user_id"]) > 64  # Claude Code's JSON id: too long for `user`, dropped
    # tools: every custom tool a function, cache_control and other Anthropic-only fields gone
    assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in body["tools"]]
    for tool, source in zip(out["tools"], body["tools"], strict=True):
        assert set(tool) == {"type", "function"} and tool["type"] == "function"
        assert tool["function"]["parameters"] == source["input_schema"]
        assert set(tool["function"]) <= {"name", "description", "parameters"}
    # the system prompt (billing line and cached blocks) leads, joined with blank lines
    assert out["messages"][0] == {"role": "system", "content": "\n\n".join(b["text"] for b in body["system"])}
    assert "cache_control" not in json.dumps(out)


@pytest.mark.parametrize("name", ["default_model_first_turn", "openai_model_first_turn"])
def test_mid_conversation_system_message_stays_in_place(name: str) -> None:
    data = load(name)
    body = data["body"]
    if name == "default_model_first_turn":  # announced in the beta header (the openai run's headers are not kept)
        assert MID_CONVERSATION_BETA in data["headers"]["anthropic-beta"].split(",")
    assert [m["role"] for m in body["messages"]] == ["user", "system"]
    out = translate(body)
    assert [m["role"] for m in out["messages"]] == ["system", "user", "system"]
    assert out["messages"][2] == {"role": "system", "content": body["messages"][1]["content"]}
    user = out["messages"][1]["content"]
    assert [p["type"] for p in user] == ["text", "text"]
    assert [p["text"] for p in user] == [b["text"] for b in body["messages"][0]["content"]]


def test_tool_loop_turn_text_image_and_pdf_results() -> None:
    body = load("default_model_tool_results")["body"]
    assistant, results = body["messages"][2:]
    out = translate(body)
    assert [m["role"] for m in out["messages"]] == [
        "system", "user", "system", "assistant", "tool", "tool", "tool", "user"
    ]
    call_msg, text_result, image_result, pdf_result, moved = out["messages"][3:]
    # thinking dropped, text kept, each tool_use a tool call with its id and compact JSON arguments
    uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert call_msg["content"] == next(b["text"] for b in assistant["content"] if b["type"] == "text")
    assert [c["id"] for c in call_msg["tool_calls"]] == [u["id"] for u in uses]
    assert [json.loads(c["function"]["arguments"]) for c in call_msg["tool_calls"]] == [u["input"] for u in uses]
    assert "thinking" not in json.dumps(call_msg)
    # tool results in order; the image (inside a tool result) and the PDF (a document block after the results)
    # follow in one user message, as OpenAI tool messages carry text only
    assert text_result == {
        "role": "tool", "tool_call_id": uses[0]["id"], "content": results["content"][0]["content"]
    }
    assert image_result == {"role": "tool", "tool_call_id": uses[1]["id"], "content": ""}
    assert pdf_result["tool_call_id"] == uses[2]["id"] and "PDF file read" in pdf_result["content"]
    image, pdf = moved["content"]
    png = results["content"][1]["content"][0]["source"]
    assert image == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png['data']}"}}
    document = results["content"][3]["source"]
    assert pdf == {
        "type": "file",
        "file": {"filename": "document.pdf", "file_data": f"data:application/pdf;base64,{document['data']}"},
    }


def test_folded_retry_and_haiku_have_no_mid_conversation_system() -> None:
    """After a refusal Claude Code sends the system text in the user turn, and drops the beta."""
    folded = load("mid_system_folded_retry")
    assert MID_CONVERSATION_BETA not in folded["headers"]["anthropic-beta"]
    assert folded["body"]["messages"][0]["content"][0]["text"].startswith("<system-reminder>")
    haiku = load("haiku_first_turn")["body"]
    assert haiku["thinking"]["type"] == "enabled" and haiku["thinking"]["budget_tokens"] > 0
    for body in (folded["body"], haiku):
        out = translate(body)
        assert [m["role"] for m in out["messages"]] == ["system", "user"]


def test_untranslatable_system_message_refused_in_words_claude_code_recognizes() -> None:
    body = load("default_model_first_turn")["body"]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    for content in ([image], None, 42):
        bad = {**body, "messages": [body["messages"][0], {"role": "system", "content": content}]}
        with pytest.raises(TranslationError) as err:
            anthropic_request_to_openai(bad)
        assert all(words in err.value.message for words in REFUSAL_WORDS)
        assert err.value.message.startswith('Unexpected role "system". The input message role must be "user" or')
        assert err.value.param == "messages.1.role"
    with pytest.raises(TranslationError) as err:
        anthropic_request_to_openai({**body, "messages": [{"role": "tool", "content": "x"}]})
    assert err.value.message.startswith('Unexpected role "tool".')


def test_system_message_text_blocks_join_and_short_user_id_is_kept() -> None:
    out = translate(
        {
            "model": "m",
            "max_tokens": 10,
            "metadata": {"user_id": "user-1234"},
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "system", "content": [
                    {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "two"},
                ]},
                {"role": "assistant", "content": "a"},
            ],
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "system", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "a"},
    ]
    assert out["user"] == "user-1234"


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": ["hi"]}, "messages.0"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_what_translation_needs_is_checked(patch: dict[str, Any], param: str) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}], **patch}
    if patch.get("max_tokens", 1) is None:
        del body["max_tokens"]
    with pytest.raises(TranslationError) as err:
        anthropic_request_to_openai(body)
    assert err.value.param == param
