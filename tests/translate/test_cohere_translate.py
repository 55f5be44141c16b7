"""bifrost.providers.cohere.translate: canonical OpenAI chat <-> Cohere v2, without a socket."""

from __future__ import annotations

import pytest

from bifrost.providers.canonical import TranslationError
from bifrost.providers.cohere.translate import (
    CohereStreamTranslator,
    cohere_to_openai_embeddings,
    cohere_to_openai_response,
    openai_to_cohere_embed,
    openai_to_cohere_request,
)


def test_request_fields() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    out = openai_to_cohere_request(
        {
            "messages": [{"role": "developer", "content": "sys"}, {"role": "user", "content": "hi"}],
            "tools": [tool],
            "tool_choice": "none",
            "max_completion_tokens": 9,
            "stop": ["x"],
            "top_p": 0.5,
            "top_k": 3,
            "seed": 1,
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}},
            "reasoning_effort": "none",
            "logit_bias": {"1": 1},
            "stream": True,
        },
        "command-a",
    )
    assert out == {
        "model": "command-a",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "tools": [tool],
        "tool_choice": "NONE",
        "max_tokens": 9,
        "stop_sequences": ["x"],
        "seed": 1,
        "p": 0.5,
        "k": 3,
        "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        "thinking": {"type": "disabled"},
        "stream": True,
    }


def test_tool_history() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    out = openai_to_cohere_request(
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]},
            ]
        },
        "m",
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "42"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            },
            "tool_choice",
        ),
    ],
)
def test_rejected(body: dict[str, object], param: str) -> None:
    with pytest.raises(TranslationError) as info:
        openai_to_cohere_request(body, "m")
    assert info.value.param == param


def test_response() -> None:
    resp = {
        "id": "r1",
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "ok"}],
            "tool_plan": "plan",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
        },
        "usage": {
            "billed_units": {"input_tokens": 1, "output_tokens": 1},
            "tokens": {"input_tokens": 7, "output_tokens": 3},
        },
    }
    out = cohere_to_openai_response(resp, "m")
    message = out["choices"][0]["message"]
    assert message["content"] == "ok" and message["reasoning_content"] == "hm"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert (out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]) == (7, 3)


def test_stream() -> None:
    t = CohereStreamTranslator("m", include_usage=False)
    events = [
        {"type": "message-start", "id": "r1", "delta": {"message": {"role": "assistant"}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I"}}},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {"tool_calls": {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}}
            },
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {
            "type": "message-end",
            "delta": {"finish_reason": "TOOL_CALL", "usage": {"tokens": {"input_tokens": 2, "output_tokens": 1}}},
        },
    ]
    chunks = [c for e in events for c in t.feed(e)]
    assert [c["choices"][0]["delta"] for c in chunks[:3]] == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and t.ended
    assert t.usage["total_tokens"] == 3 and {c["id"] for c in chunks} == {"r1"}


def test_embeddings() -> None:
    assert openai_to_cohere_embed({"input": "a", "input_type": "search_query", "dimensions": 256}, "e") == {
        "model": "e",
        "texts": ["a"],
        "input_type": "search_query",
        "embedding_types": ["float"],
        "output_dimension": 256,
    }
    with pytest.raises(TranslationError):
        openai_to_cohere_embed({"input": [[1, 2]]}, "e")
    out = cohere_to_openai_embeddings(
        {"embeddings": {"float": [[0.5], [1.0]]}, "meta": {"billed_units": {"input_tokens": 4}}}, "e"
    )
    assert [d["embedding"] for d in out["data"]] == [[0.5], [1.0]] and out["usage"]["prompt_tokens"] == 4
    assert (
        cohere_to_openai_embeddings({"embeddings": {"float": [[1.0]]}}, "e", "base64")["data"][0]["embedding"]
        == "AACAPw=="
    )
