"""Anthropic client wire <-> OpenAI canonical (bifrost.integrations.anthropic), for /anthropic/v1/messages."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared openapi_schema helper
from bifrost.integrations.anthropic import (
    OpenAIStreamToAnthropic,
    anthropic_request_to_openai,
    openai_error_to_anthropic,
    openai_response_to_anthropic,
)
from bifrost.providers.anthropic.translate import (
    AnthropicStreamTranslator,
    TranslationError,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
)
from openapi_schema import validate_openai

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
PDF_B64 = "JVBERi0xLjQgZmFrZQ=="
PNG_B64 = "iVBORw0KGgpmYWtl"


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    out = anthropic_request_to_openai({"model": "openai/gpt-4o", "max_tokens": 256, **body})
    validate_openai("CreateChatCompletionRequest", out)
    return out


# --------------------------------------------------------------------------- request


def test_minimal_request() -> None:
    out = to_openai({"messages": [{"role": "user", "content": "Hello"}]})
    assert out == {
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 256,
    }


def test_system_string_and_blocks() -> None:
    out = to_openai({"system": "Be brief.", "messages": [{"role": "user", "content": "q"}]})
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    out = to_openai(
        {
            "system": [
                {"type": "text", "text": "Part one.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Part two."},
            ],
            "messages": [{"role": "user", "content": "q"}],
        }
    )
    assert out["messages"][0] == {"role": "system", "content": "Part one.\n\nPart two."}


def test_user_blocks_text_image_document() -> None:
    out = to_openai(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare these."},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                        {
                            "type": "document",
                            "title": "spec.pdf",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
                        },
                        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                    ],
                }
            ]
        }
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {
                    "type": "file",
                    "file": {"filename": "spec.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
                },
                {"type": "text", "text": "notes"},
            ],
        }
    ]


def test_single_text_block_collapses_to_string() -> None:
    out = to_openai({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_tool_use_and_tool_results_ordering() -> None:
    out = to_openai(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "plan", "signature": "sig"},
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Here you go."},
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [{"type": "text", "text": "21C"}, {"type": "text", "text": "sunny"}],
                            "is_error": False,
                        },
                    ],
                },
            ]
        }
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
        ],
    }
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "21C\nsunny"},
        {"role": "user", "content": "Here you go."},
    ]


def test_tool_result_error_and_images_and_empty() -> None:
    out = to_openai(
        {
            "messages": [
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {"type": "text", "text": "screenshot:"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                                },
                            ],
                        },
                        {"type": "tool_result", "tool_use_id": "t2", "content": "timeout", "is_error": True},
                        {"type": "tool_result", "tool_use_id": "t3"},
                    ],
                },
            ]
        }
    )
    assert out["messages"][0] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}],
    }
    assert out["messages"][1:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "screenshot:"},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: timeout"},
        {"role": "tool", "tool_call_id": "t3", "content": ""},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]},
    ]


def test_tools_and_tool_choice() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    base = {
        "messages": [{"role": "user", "content": "q"}],
        "tools": [
            {"name": "get_weather", "description": "Get weather", "input_schema": schema},
            {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
        ],
    }
    out = to_openai(base)
    assert out["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": schema}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    ]
    assert "tool_choice" not in out and "parallel_tool_calls" not in out
    cases = [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ]
    for choice, expected in cases:
        assert to_openai({**base, "tool_choice": choice})["tool_choice"] == expected
    out = to_openai({**base, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}})
    assert out["parallel_tool_calls"] is False


def test_server_tools_and_unknown_blocks_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        to_openai(
            {
                "messages": [{"role": "user", "content": "q"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            }
        )
    assert err.value.param == "tools.0.type"
    with pytest.raises(TranslationError) as err:
        to_openai({"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x"}]}]})
    assert err.value.param == "messages.0.content.0"
    with pytest.raises(TranslationError):
        to_openai(
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}
        )


def test_sampling_stream_metadata_and_dropped_fields() -> None:
    out = to_openai(
        {
            "messages": [{"role": "user", "content": "q"}],
            "stop_sequences": ["END"],
            "temperature": 0.5,
            "top_p": 0.8,
            "top_k": 20,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "metadata": {"user_id": "u-1"},
            "stream": True,
            "service_tier": "auto",
            "container": "c",
        }
    )
    assert out == {
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "q"}],
        "max_tokens": 256,
        "stop": ["END"],
        "temperature": 0.5,
        "top_p": 0.8,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
        "reasoning_effort": "medium",  # extended thinking -> reasoning_effort (issue 11, item 8)
    }


def test_request_input_not_mutated() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "s"}],
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    before = copy.deepcopy(body)
    anthropic_request_to_openai(body)
    assert body == before


def test_request_round_trip_to_anthropic_upstream() -> None:
    """Anthropic client -> canonical -> Anthropic upstream keeps the conversation's meaning."""
    original = {
        "model": "claude-x",
        "max_tokens": 300,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        "tools": [{"name": "w", "description": "weather", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "metadata": {"user_id": "u"},
    }
    back = openai_to_anthropic_request(anthropic_request_to_openai(original), "claude-x")
    assert back == {**original, "max_tokens": 300}


# --------------------------------------------------------------------------- response


def openai_completion(**message: Any) -> dict[str, Any]:
    finish = message.pop("finish_reason", "stop")
    usage = message.pop("usage", {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27})
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "refusal": None, **message},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }


def test_text_response() -> None:
    out = openai_response_to_anthropic(openai_completion(content="Hi there"), "gpt-4o")
    Message.model_validate(out)
    assert out == {
        "id": "msg_chatcmpl-abc123",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o-2024-08-06",
        "content": [{"type": "text", "text": "Hi there"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 7,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def test_tool_call_response_with_cached_usage() -> None:
    resp = openai_completion(
        content=None,
        tool_calls=[
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, 2]}'}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{oops"}},
            {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": ""}},
        ],
        finish_reason="tool_calls",
        usage={
            "prompt_tokens": 100,
            "completion_tokens": 9,
            "total_tokens": 109,
            "prompt_tokens_details": {"cached_tokens": 64},
        },
    )
    out = openai_response_to_anthropic(resp, "gpt-4o")
    message = Message.model_validate(out)
    assert out["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": [1, 2]}},
        {"type": "tool_use", "id": "call_2", "name": "g", "input": {"_raw": "{oops"}},
        {"type": "tool_use", "id": "call_3", "name": "h", "input": {}},
    ]
    assert message.stop_reason == "tool_use"
    assert out["usage"] == {
        "input_tokens": 36,
        "output_tokens": 9,
        "cache_read_input_tokens": 64,
        "cache_creation_input_tokens": 0,
    }


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reason_mapping(finish: str | None, stop_reason: str) -> None:
    out = openai_response_to_anthropic(openai_completion(content="x", finish_reason=finish), "m")
    assert out["stop_reason"] == stop_reason
    Message.model_validate(out)


def test_stop_with_tool_calls_becomes_tool_use_and_legacy_function_call() -> None:
    resp = openai_completion(
        content="", tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    )
    assert openai_response_to_anthropic(resp, "m")["stop_reason"] == "tool_use"
    resp = openai_completion(
        content=None, function_call={"name": "f", "arguments": '{"a": 1}'}, finish_reason="function_call"
    )
    out = openai_response_to_anthropic(resp, "m")
    Message.model_validate(out)
    assert out["content"][0]["name"] == "f" and out["content"][0]["input"] == {"a": 1}


def test_refusal_empty_and_ids() -> None:
    out = openai_response_to_anthropic(openai_completion(content=None, refusal="No."), "m")
    assert out["content"] == [{"type": "text", "text": "No."}]
    resp = openai_completion(content="")
    resp["id"] = "msg_already"
    del resp["model"]
    out = openai_response_to_anthropic(resp, "fallback-model")
    Message.model_validate(out)
    assert (out["id"], out["model"], out["content"]) == ("msg_already", "fallback-model", [])


def test_response_round_trip() -> None:
    """Anthropic message -> OpenAI -> Anthropic message gives back the same content, stop and usage."""
    original = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "Sure."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": "ü", "n": 1.5}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 11,
            "output_tokens": 5,
            "cache_read_input_tokens": 40,
            "cache_creation_input_tokens": 7,
        },
    }
    back = openai_response_to_anthropic(anthropic_to_openai_response(original), "claude-x")
    assert back == original


# --------------------------------------------------------------------------- streaming


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    body.update(extra)
    return body


OPENAI_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk(
        {
            "tool_calls": [
                {"index": 0, "id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk(
        {
            "tool_calls": [
                {"index": 1, "id": "call_B", "type": "function", "function": {"name": "now", "arguments": "{}"}}
            ]
        }
    ),
    chunk({}, "tool_calls"),
    chunk(
        None,
        usage={
            "prompt_tokens": 50,
            "completion_tokens": 12,
            "total_tokens": 62,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    ),
]


def run(chunks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    translator = OpenAIStreamToAnthropic("requested")
    events: list[tuple[str, dict[str, Any]]] = []
    for c in chunks:
        events.extend(translator.feed(c))
    events.extend(translator.finish())
    assert translator.finish() == []  # idempotent
    return events


def sdk_final_message(events: list[tuple[str, dict[str, Any]]]) -> Any:
    """Serve the events as raw SSE to the official anthropic SDK and let it accumulate the message."""
    sse = b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in events)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://bifrost.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "q"}]) as stream:
        return stream.get_final_message()


def test_stream_event_order_and_validity() -> None:
    events = run(OPENAI_STREAM)
    for _, data in events:
        EVENT_ADAPTER.validate_python(data)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for name, data in events:
        assert data["type"] == name
    start = events[0][1]["message"]
    assert start["id"] == "msg_chatcmpl-s1" and start["model"] == "gpt-4o-2024-08-06"
    assert [data["index"] for name, data in events if name == "content_block_start"] == [0, 1, 2]
    assert events[5][1]["content_block"] == {"type": "tool_use", "id": "call_A", "name": "get_weather", "input": {}}
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "output_tokens": 12,
            "input_tokens": 40,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 0,
        },
    }


def test_stream_through_official_sdk() -> None:
    message = sdk_final_message(run(OPENAI_STREAM))
    assert message.id == "msg_chatcmpl-s1"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Let me check."
    assert (message.content[1].id, message.content[1].name, message.content[1].input) == (
        "call_A",
        "get_weather",
        {"city": "Paris"},
    )
    assert message.content[2].input == {}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (
        40,
        12,
        10,
    )


def test_stream_text_then_text_after_tool_and_usage_in_first_chunk() -> None:
    chunks = [
        chunk(
            {"role": "assistant", "content": "a"}, usage={"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9}
        ),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({"content": "b"}),
        chunk({}, "length"),
    ]
    events = run(chunks)
    for _, data in events:
        EVENT_ADAPTER.validate_python(data)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 9
    message = sdk_final_message(events)
    assert [block.type for block in message.content] == ["text", "tool_use", "text"]
    assert message.stop_reason == "max_tokens"


def test_stream_without_any_chunk_still_valid() -> None:
    events = run([])
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    message = sdk_final_message(events)
    assert message.content == [] and message.stop_reason == "end_turn"


def test_stream_tool_call_without_id_gets_one() -> None:
    events = run(
        [chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"a":1}'}}]}), chunk({}, "stop")]
    )
    message = sdk_final_message(events)
    block = message.content[0]
    assert block.type == "tool_use" and block.id and block.input == {"a": 1}
    assert message.stop_reason == "tool_use"


def test_full_bridge_anthropic_upstream_through_both_translators() -> None:
    """Anthropic SSE -> OpenAI chunks -> Anthropic SSE gives the SDK the same final message."""
    upstream = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_up",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 8, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"k": "v"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    first = AnthropicStreamTranslator("claude-x", include_usage=True)
    chunks = [c for name, data in upstream for c in first.feed(name, data)]
    second = OpenAIStreamToAnthropic("claude-x")
    events = [e for c in chunks for e in second.feed(c)] + second.finish()
    message = sdk_final_message(events)
    assert message.id == "msg_up"
    assert message.content[0].text == "Hi"
    assert (message.content[1].id, message.content[1].input) == ("toolu_1", {"k": "v"})
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == ("tool_use", 8, 5)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "etype"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "api_error"),
        (504, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_mapping(status: int, etype: str) -> None:
    wrapped = {"error": {"message": "nope", "type": "x", "param": None, "code": None}}
    out = openai_error_to_anthropic(status, wrapped)
    assert out == {"type": "error", "error": {"type": etype, "message": "nope"}}
    assert openai_error_to_anthropic(status, wrapped["error"]) == out
    if etype != "request_too_large":  # documented by Anthropic, not (yet) in the SDK's union
        ErrorResponse.model_validate(out)


def test_error_without_message() -> None:
    out = openai_error_to_anthropic(500, {})
    assert out["error"]["type"] == "api_error" and out["error"]["message"]
