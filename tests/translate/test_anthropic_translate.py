"""OpenAI canonical <-> Anthropic upstream translation (bifrost.providers.anthropic.translate)."""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the shared openapi_schema helper
from bifrost.core.text_completion import (
    chat_chunk_to_text_completion_chunk,
    chat_response_to_text_completion,
)
from bifrost.providers.anthropic.translate import (
    DROPPED_PARAMS,
    REASONING_BUDGETS,
    AnthropicStreamTranslator,
    TranslationError,
    UpstreamStreamError,
    anthropic_error_to_openai,
    anthropic_to_openai_response,
    openai_completion_prompt_to_messages,
    openai_to_anthropic_request,
)
from openapi_schema import validate_openai

MODEL = "claude-3-5-sonnet-20241022"
ALLOWED_REQUEST_KEYS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "metadata",
    "thinking",
}


def translate(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return openai_to_anthropic_request(body, MODEL, **kw)


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": "user", "content": content, **extra}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --------------------------------------------------------------------------- request: messages


def test_minimal_request_defaults() -> None:
    out = translate({"model": "x", "messages": [user("hello")]})
    assert out == {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "max_tokens": 4096,
    }
    assert translate({"messages": [user("hi")]}, default_max_tokens=99)["max_tokens"] == 99


def test_system_and_developer_become_top_level_system_string() -> None:
    out = translate(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                user("hi"),
                {"role": "developer", "content": "Answer in French."},
                {"role": "assistant", "content": "Salut"},
            ]
        }
    )
    assert out["system"] == "You are terse.\n\nAnswer in French."
    assert [t["role"] for t in out["messages"]] == ["user", "assistant"]


def test_system_with_parts_becomes_text_block_list_keeping_cache_control() -> None:
    out = translate(
        {
            "messages": [
                {"role": "system", "content": "plain"},
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "big prefix", "cache_control": {"type": "ephemeral"}},
                        {"type": "text", "text": "   "},
                    ],
                },
                user("q"),
            ]
        }
    )
    assert out["system"] == [
        {"type": "text", "text": "plain"},
        {"type": "text", "text": "big prefix", "cache_control": {"type": "ephemeral"}},
    ]


def test_system_with_image_is_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate(
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}],
                    },
                    user("q"),
                ]
            }
        )
    assert err.value.param == "messages[0].content[0]"


def test_consecutive_same_role_turns_merge_and_name_is_dropped() -> None:
    out = translate(
        {
            "messages": [
                user("a", name="alice"),
                user([{"type": "text", "text": "b"}], name="bob"),
                {"role": "assistant", "content": "c", "name": "bot"},
                {"role": "assistant", "content": "d"},
                user("e"),
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        {"role": "user", "content": [{"type": "text", "text": "e"}]},
    ]
    assert "name" not in orjson.dumps(out).decode()


def test_empty_content_rules() -> None:
    out = translate(
        {
            "messages": [
                user("first"),
                {"role": "assistant", "content": ""},  # omitted: users around it merge
                user(" \n "),  # whitespace only: omitted
                user([{"type": "text", "text": ""}, {"type": "text", "text": "second"}]),
                {"role": "assistant", "content": None, "tool_calls": [call("call_1", "f", "{}")]},
                {"role": "tool", "tool_call_id": "call_1", "content": ""},
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1"}]},
    ]
    for turn in out["messages"]:
        assert turn["content"], "never an empty content list"


def test_all_empty_messages_is_an_error() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [{"role": "system", "content": "s"}, user("")]})
    assert err.value.param == "messages"
    with pytest.raises(TranslationError):
        translate({"messages": []})


def test_final_assistant_prefill_trailing_whitespace_is_stripped() -> None:
    out = translate({"messages": [user("q"), {"role": "assistant", "content": "The answer is "}]})
    assert out["messages"][-1]["content"] == [{"type": "text", "text": "The answer is"}]
    # earlier assistant turns are left alone
    out = translate({"messages": [{"role": "assistant", "content": "x "}, user("q")]})
    assert out["messages"][0]["content"][0]["text"] == "x "


def test_unknown_role_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [{"role": "robot", "content": "x"}]})
    assert err.value.param == "messages[0].role"


# --------------------------------------------------------------------------- request: tools


def test_tool_calls_and_results_grouping() -> None:
    out = translate(
        {
            "messages": [
                user("weather in Paris and Rome?"),
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        call("call_a", "get_weather", '{"city": "Paris"}'),
                        call("call_b", "get_weather", '{"city":"Rome","units":{"t":"C"}}'),
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "21C"}]},
                user("and tomorrow?"),
            ]
        }
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
            {
                "type": "tool_use",
                "id": "call_b",
                "name": "get_weather",
                "input": {"city": "Rome", "units": {"t": "C"}},
            },
        ],
    }
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_a", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_b", "content": [{"type": "text", "text": "21C"}]},
            {"type": "text", "text": "and tomorrow?"},
        ],
    }
    assert len(out["messages"]) == 3


def test_tool_results_are_moved_before_user_text_in_a_merged_turn() -> None:
    out = translate(
        {
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [call("call_1", "f", "{}")]},
                user("note first"),
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
            ]
        }
    )
    assert out["messages"][1]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "ok"},
        {"type": "text", "text": "note first"},
    ]


def test_tool_call_ids_are_sanitised_consistently() -> None:
    out = translate(
        {
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [call("fn:1.x", "f", "{}")]},
                {"role": "tool", "tool_call_id": "fn:1.x", "content": "ok"},
            ]
        }
    )
    assert out["messages"][0]["content"][0]["id"] == "fn_1_x"
    assert out["messages"][1]["content"][0]["tool_use_id"] == "fn_1_x"


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", "3"])
def test_invalid_tool_call_arguments_name_the_param(arguments: str) -> None:
    with pytest.raises(TranslationError) as err:
        translate(
            {
                "messages": [
                    user("q"),
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [call("c0", "f", "{}"), call("c1", "f", arguments)],
                    },
                ]
            }
        )
    assert err.value.param == "messages[1].tool_calls[1].function.arguments"
    assert isinstance(err.value, ValueError)


def test_tool_message_without_id_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [user("q"), {"role": "tool", "content": "x"}]})
    assert err.value.param == "messages[1].tool_call_id"


def test_tools_definitions_and_legacy_functions() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    out = translate(
        {
            "messages": [user("q")],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": schema,
                        "strict": True,
                    },
                },
                {"type": "function", "function": {"name": "now"}},
            ],
            "functions": [{"name": "legacy", "parameters": schema}],
        }
    )
    assert out["tools"] == [
        {"name": "get_weather", "input_schema": schema, "description": "Weather"},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        {"name": "legacy", "input_schema": schema},
    ]
    assert out["tools"][0]["input_schema"] is schema  # shared, not copied


def test_non_function_tools_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [user("q")], "tools": [{"type": "custom", "custom": {"name": "x"}}]})
    assert err.value.param == "tools[0].type"


TOOLS = [{"type": "function", "function": {"name": "f"}}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    out = translate({"messages": [user("q")], "tools": TOOLS, "tool_choice": choice})
    assert out["tool_choice"] == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "f"}},
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
        ("none", {"type": "none"}),
    ],
)
def test_parallel_tool_calls_false(choice: Any, expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {"messages": [user("q")], "tools": TOOLS, "parallel_tool_calls": False}
    if choice is not None:
        body["tool_choice"] = choice
    assert translate(body)["tool_choice"] == expected


def test_parallel_tool_calls_true_or_absent_adds_nothing() -> None:
    assert "tool_choice" not in translate({"messages": [user("q")], "tools": TOOLS, "parallel_tool_calls": True})


def test_tool_choice_without_tools_is_dropped() -> None:
    out = translate({"messages": [user("q")], "tool_choice": "required", "parallel_tool_calls": False})
    assert "tool_choice" not in out and "tools" not in out


def test_legacy_function_call_choice_and_messages() -> None:
    out = translate(
        {
            "messages": [
                user("q"),
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "f", "arguments": '{"x": 1}'},
                },
                {"role": "function", "name": "f", "content": "42"},
            ],
            "functions": [{"name": "f"}],
            "function_call": {"name": "f"},
        }
    )
    assert out["tool_choice"] == {"type": "tool", "name": "f"}
    tool_use = out["messages"][1]["content"][0]
    assert tool_use["type"] == "tool_use" and tool_use["input"] == {"x": 1}
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "42"}]


def test_unsupported_tool_choice_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [user("q")], "tools": TOOLS, "tool_choice": {"type": "allowed_tools"}})
    assert err.value.param == "tool_choice"


# --------------------------------------------------------------------------- request: content parts

PNG_B64 = base64.b64encode(b"\x89PNG fake").decode()
PDF_B64 = base64.b64encode(b"%PDF-1.4 fake").decode()


def parts_of(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return translate({"messages": [user(list(parts))]})["messages"][0]["content"]


def test_image_data_url_and_http_url() -> None:
    blocks = parts_of(
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": f"data:image/jpg;base64,{PNG_B64}"},
    )
    assert blocks == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG_B64}},
    ]


@pytest.mark.parametrize(
    "url",
    ["data:image/bmp;base64,AAAA", "data:image/png,rawbytes", "data:image/png;base64", "ftp://x/y.png", ""],
)
def test_bad_images_rejected(url: str) -> None:
    with pytest.raises(TranslationError) as err:
        parts_of({"type": "image_url", "image_url": {"url": url}})
    assert err.value.param == "messages[0].content[0].image_url.url"


def test_pdf_file_parts_become_documents() -> None:
    blocks = parts_of(
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"},
        },
        {"type": "file", "file": {"file_data": PDF_B64}},
    )
    assert blocks == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
            "title": "report.pdf",
        },
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
    ]


def test_plain_text_file_becomes_text_document() -> None:
    data = base64.b64encode("héllo".encode()).decode()
    blocks = parts_of({"type": "file", "file": {"file_data": f"data:text/plain;base64,{data}"}})
    assert blocks == [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "héllo"}}]


@pytest.mark.parametrize(
    ("file", "param"),
    [
        ({"file_id": "file-abc"}, "messages[0].content[0].file.file_id"),
        ({"file_data": "data:application/zip;base64,AAAA"}, "messages[0].content[0].file.file_data"),
        ({}, "messages[0].content[0].file.file_data"),
    ],
)
def test_bad_files_rejected(file: dict[str, Any], param: str) -> None:
    with pytest.raises(TranslationError) as err:
        parts_of({"type": "file", "file": file})
    assert err.value.param == param


def test_input_audio_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        parts_of({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}})
    assert "not supported by Anthropic" in str(err.value)
    assert err.value.param == "messages[0].content[0]"


def test_cache_control_and_prompt_cache_breakpoint() -> None:
    blocks = parts_of(
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "b", "prompt_cache_breakpoint": {"mode": "explicit"}},
    )
    assert blocks[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert blocks[1]["cache_control"] == {"type": "ephemeral"}


def test_assistant_refusal_part_and_thinking_blocks_replay() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig=="}
    out = translate(
        {
            "messages": [
                user("q"),
                {
                    "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "I can't."}],
                    "thinking_blocks": [thinking, {"type": "redacted_thinking", "data": "xyz"}],
                    "reasoning_content": "hmm",
                },
                user("ok"),
            ]
        }
    )
    assert out["messages"][1]["content"] == [
        thinking,
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "text", "text": "I can't."},
    ]


# --------------------------------------------------------------------------- request: parameters


def test_max_tokens_precedence_and_validation() -> None:
    base = {"messages": [user("q")]}
    assert translate({**base, "max_tokens": 10})["max_tokens"] == 10
    assert translate({**base, "max_tokens": 10, "max_completion_tokens": 20})["max_tokens"] == 20
    with pytest.raises(TranslationError) as err:
        translate({**base, "max_completion_tokens": "many"})
    assert err.value.param == "max_completion_tokens"
    with pytest.raises(TranslationError):
        translate({**base, "max_tokens": 0})


def test_sampling_stop_user_stream() -> None:
    out = translate(
        {
            "messages": [user("q")],
            "stop": ["\n\n", "END", ""],
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 40,
            "user": "user-123",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert out["stop_sequences"] == ["\n\n", "END"]
    assert (out["temperature"], out["top_p"], out["top_k"]) == (0.3, 0.9, 40)
    assert out["metadata"] == {"user_id": "user-123"}
    assert out["stream"] is True
    assert "stream_options" not in out
    assert translate({"messages": [user("q")], "stop": "STOP"})["stop_sequences"] == ["STOP"]
    assert "stream" not in translate({"messages": [user("q")], "stream": False})


def test_temperature_clamped_to_anthropic_range() -> None:
    assert translate({"messages": [user("q")], "temperature": 1.7})["temperature"] == 1.0
    assert translate({"messages": [user("q")], "temperature": 0})["temperature"] == 0


def test_metadata_only_user_id_passes() -> None:
    out = translate({"messages": [user("q")], "metadata": {"user_id": "u9", "team": "x"}, "user": "u1"})
    assert out["metadata"] == {"user_id": "u9"}
    assert "metadata" not in translate({"messages": [user("q")], "metadata": {"team": "x"}})
    assert translate({"messages": [user("q")], "safety_identifier": "s1"})["metadata"] == {"user_id": "s1"}


@pytest.mark.parametrize(("effort", "budget"), sorted(REASONING_BUDGETS.items()))
def test_reasoning_effort_to_thinking(effort: str, budget: int) -> None:
    out = translate({"messages": [user("q")], "reasoning_effort": effort, "max_tokens": 1000})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert out["max_tokens"] > budget
    assert out["max_tokens"] == budget + 1000


def test_reasoning_effort_keeps_large_max_tokens_and_none_means_off() -> None:
    out = translate({"messages": [user("q")], "reasoning_effort": "low", "max_tokens": 8000})
    assert out["max_tokens"] == 8000 and out["thinking"]["budget_tokens"] == 1024
    assert "thinking" not in translate({"messages": [user("q")], "reasoning_effort": "none"})
    with pytest.raises(TranslationError) as err:
        translate({"messages": [user("q")], "reasoning_effort": "extreme"})
    assert err.value.param == "reasoning_effort"


def test_explicit_thinking_passes_as_is() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2000}
    out = translate({"messages": [user("q")], "thinking": thinking, "reasoning_effort": "high", "max_tokens": 500})
    assert out["thinking"] is thinking
    assert out["max_tokens"] == 2500
    adaptive = {"type": "adaptive"}
    assert translate({"messages": [user("q")], "thinking": adaptive})["thinking"] is adaptive


def test_response_format_json_object_and_schema() -> None:
    out = translate({"messages": [user("q")], "response_format": {"type": "json_object"}})
    assert "single valid JSON object" in out["system"]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    out = translate(
        {
            "messages": [{"role": "system", "content": "Be precise."}, user("q")],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        }
    )
    assert out["system"].startswith("Be precise.\n\n")
    assert orjson.dumps(schema).decode() in out["system"]
    out = translate(
        {
            "messages": [{"role": "system", "content": [{"type": "text", "text": "S"}]}, user("q")],
            "response_format": {"type": "json_object"},
        }
    )
    assert out["system"][0] == {"type": "text", "text": "S"}
    assert "JSON" in out["system"][1]["text"]
    assert "system" not in translate({"messages": [user("q")], "response_format": {"type": "text"}})
    with pytest.raises(TranslationError):
        translate({"messages": [user("q")], "response_format": {"type": "yaml"}})


def test_n_greater_than_one_rejected() -> None:
    with pytest.raises(TranslationError) as err:
        translate({"messages": [user("q")], "n": 2})
    assert str(err.value) == "n>1 is not supported by Anthropic"
    assert err.value.param == "n"
    assert "n" not in translate({"messages": [user("q")], "n": 1})


def test_dropped_and_unknown_params_never_leak() -> None:
    body: dict[str, Any] = {"messages": [user("q")], "model": "gpt-4o"}
    for name in DROPPED_PARAMS:
        body[name] = {"any": "value"} if name in ("prediction", "audio", "stream_options") else 1
    body.update({"fallbacks": ["openai/gpt-4o"], "brand_new_openai_param": True, "extra_fields": {}})
    out = translate(body)
    assert set(out) <= ALLOWED_REQUEST_KEYS
    assert set(out) == {"model", "messages", "max_tokens"}
    assert {
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "stream_options",
        "service_tier",
        "store",
        "modalities",
        "prediction",
    } <= DROPPED_PARAMS


def test_input_body_is_not_mutated() -> None:
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "S"}]},
            user(
                [
                    {"type": "text", "text": "q"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ]
            ),
            {"role": "assistant", "content": "a  ", "tool_calls": [call("c1", "f", '{"a":1}')]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
        ],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "response_format": {"type": "json_object"},
    }
    before = copy.deepcopy(body)
    translate(body)
    assert body == before


# --------------------------------------------------------------------------- response


def anthropic_message(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6},
    }
    message.update(overrides)
    return message


def check_chat_completion(resp: dict[str, Any]) -> None:
    validate_openai("CreateChatCompletionResponse", resp)
    ChatCompletion.model_validate(resp)


def test_text_response() -> None:
    out = anthropic_to_openai_response(anthropic_message())
    check_chat_completion(out)
    assert out["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert out["object"] == "chat.completion"
    assert out["model"] == "claude-3-5-sonnet-20241022"
    assert isinstance(out["created"], int)
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 6,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_model_fallback_when_response_has_none() -> None:
    resp = anthropic_message()
    del resp["model"]
    assert anthropic_to_openai_response(resp, "claude-x")["model"] == "claude-x"


def test_tool_use_thinking_and_cache_usage() -> None:
    resp = anthropic_message(
        content=[
            {"type": "thinking", "thinking": "Let me think.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "I'll check "},
            {"type": "text", "text": "the weather."},
            {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": "get_weather",
                "input": {"city": "Paris", "n": [1, 2]},
            },
            {"type": "tool_use", "id": "toolu_02", "name": "now", "input": {}},
        ],
        stop_reason="tool_use",
        usage={
            "input_tokens": 10,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 30,
        },
    )
    out = anthropic_to_openai_response(resp)
    check_chat_completion(out)
    message = out["choices"][0]["message"]
    assert message["content"] == "I'll check the weather."
    assert message["reasoning_content"] == "Let me think."
    assert message["thinking_blocks"] == resp["content"][:2]
    assert message["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris","n":[1,2]}'},
        },
        {"id": "toolu_02", "type": "function", "function": {"name": "now", "arguments": "{}"}},
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 30,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
    }


def test_only_tool_use_gives_null_content_and_nothing_gives_empty_string() -> None:
    out = anthropic_to_openai_response(
        anthropic_message(
            content=[{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}], stop_reason="tool_use"
        )
    )
    check_chat_completion(out)
    assert out["choices"][0]["message"]["content"] is None
    out = anthropic_to_openai_response(anthropic_message(content=[], stop_reason="max_tokens"))
    check_chat_completion(out)
    assert out["choices"][0]["message"]["content"] == ""


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_stop_reason_mapping(stop_reason: str | None, finish: str) -> None:
    out = anthropic_to_openai_response(anthropic_message(stop_reason=stop_reason))
    assert out["choices"][0]["finish_reason"] == finish
    check_chat_completion(out)


def test_response_round_trip_through_request_translation() -> None:
    """A translated answer, sent back as history, becomes the same Anthropic assistant turn."""
    resp = anthropic_message(
        content=[
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": {"b": [1, None, True]}}},
        ],
        stop_reason="tool_use",
    )
    message = anthropic_to_openai_response(resp)["choices"][0]["message"]
    out = translate({"messages": [user("q"), message, {"role": "tool", "tool_call_id": "toolu_9", "content": "done"}]})
    assert out["messages"][1] == {"role": "assistant", "content": resp["content"]}
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "done"}]


# --------------------------------------------------------------------------- streaming


def sse_events(*, with_thinking: bool = False) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_stream_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-3-5-sonnet-20241022",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 25,
                        "cache_read_input_tokens": 5,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if with_thinking:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "Hmm, "},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "weather."},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "EqQB"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    events += [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": "Let me "},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": "check."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index + 1,
                "content_block": {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index + 1,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index + 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index + 1,
                "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": index + 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index + 2,
                "content_block": {"type": "tool_use", "id": "toolu_B", "name": "now", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index + 2,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": index + 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 42},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def run_stream(translator: AnthropicStreamTranslator, events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for name, data in events:
        chunks.extend(translator.feed(name, data))
    return chunks


def test_stream_translation_chunks_are_valid_and_accumulate() -> None:
    translator = AnthropicStreamTranslator("requested-model", include_usage=True)
    chunks = run_stream(translator, sse_events())
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
        ChatCompletionChunk.model_validate(chunk)
    assert {c["id"] for c in chunks} == {"msg_stream_1"}
    assert len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {"claude-3-5-sonnet-20241022"}

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Let me "}
    first_tool = chunks[3]["choices"][0]["delta"]["tool_calls"][0]
    assert first_tool == {
        "index": 0,
        "id": "toolu_A",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert chunks[4]["choices"][0]["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}
    second_tool = chunks[6]["choices"][0]["delta"]["tool_calls"][0]
    assert (second_tool["index"], second_tool["id"]) == (1, "toolu_B")
    finish = chunks[-2]
    assert finish["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 42,
        "total_tokens": 72,
        "prompt_tokens_details": {"cached_tokens": 5},
    }
    assert translator.finish_reason == "tool_calls"
    assert translator.usage == usage_chunk["usage"]

    # the official openai SDK accumulates the chunks into the expected completion
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls is not None
    assert [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls] == [
        ("toolu_A", "get_weather", '{"city": "Paris"}'),
        ("toolu_B", "now", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.prompt_tokens == 30


def test_stream_without_include_usage_and_with_thinking() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=False)
    chunks = run_stream(translator, sse_events(with_thinking=True))
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    assert all(chunk["choices"] for chunk in chunks)
    assert "usage" not in chunks[-1]
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    assert reasoning == "Hmm, weather."
    assert translator.usage["completion_tokens"] == 42  # still available for metrics


def test_stream_text_only_finish_and_stop_sequence() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=True)
    events = [e for e in sse_events() if not (e[0].startswith("content_block") and e[1]["index"] > 0)]
    events[-2] = (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}},
    )
    chunks = run_stream(translator, events)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert not any("tool_calls" in (c["choices"][0]["delta"] if c["choices"] else {}) for c in chunks)


def test_stream_error_event_raises() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=False)
    translator.feed("message_start", sse_events()[0][1])
    with pytest.raises(UpstreamStreamError) as err:
        translator.feed("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (err.value.error_type, err.value.message) == ("overloaded_error", "Overloaded")


def test_stream_ignores_ping_unknown_and_server_tool_blocks() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=False)
    translator.feed("message_start", sse_events()[0][1])
    assert translator.feed("ping", {"type": "ping"}) == []
    assert translator.feed("some_future_event", {"type": "some_future_event"}) == []
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    }
    assert translator.feed("content_block_start", start) == []
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    }
    assert translator.feed("content_block_delta", delta) == []
    # the event name may be omitted: the data's type is used
    chunks = translator.feed(
        "", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "x"}}
    )
    assert chunks[0]["choices"][0]["delta"] == {"content": "x"}


def test_stream_matches_non_stream_translation() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=True)
    chunks = run_stream(translator, sse_events())
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    streamed = state.get_final_completion().choices[0].message
    whole = anthropic_to_openai_response(
        anthropic_message(
            id="msg_stream_1",
            content=[
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_B", "name": "now", "input": {}},
            ],
            stop_reason="tool_use",
        )
    )["choices"][0]["message"]
    assert streamed.content == whole["content"]
    assert streamed.tool_calls is not None
    assert [orjson.loads(t.function.arguments) for t in streamed.tool_calls] == [
        orjson.loads(t["function"]["arguments"]) for t in whole["tool_calls"]
    ]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "atype", "otype", "code"),
    [
        (400, "invalid_request_error", "invalid_request_error", None),
        (401, "authentication_error", "authentication_error", "invalid_api_key"),
        (403, "permission_error", "permission_error", None),
        (404, "not_found_error", "not_found_error", None),
        (413, "request_too_large", "invalid_request_error", "request_too_large"),
        (429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_exceeded"),
        (500, "api_error", "api_error", None),
        (529, "overloaded_error", "overloaded_error", "overloaded"),
    ],
)
def test_error_mapping(status: int, atype: str, otype: str, code: str | None) -> None:
    body = {"type": "error", "error": {"type": atype, "message": "boom"}, "request_id": "req_1"}
    assert anthropic_error_to_openai(status, body) == (
        status,
        {"message": "boom", "type": otype, "param": None, "code": code},
    )


def test_error_mapping_without_usable_body() -> None:
    status, error = anthropic_error_to_openai(529, None)
    assert status == 529 and error["type"] == "overloaded_error" and error["message"]
    status, error = anthropic_error_to_openai(502, {"unexpected": True})
    assert (status, error["type"]) == (502, "api_error")
    _, error = anthropic_error_to_openai(409, {"type": "error", "error": {"type": "conflict_error", "message": "c"}})
    assert error == {"message": "c", "type": "conflict_error", "param": None, "code": None}
    assert not error["message"].startswith("anthropic")


# --------------------------------------------------------------------------- text completions


def test_completion_prompt_to_messages() -> None:
    assert openai_completion_prompt_to_messages("Once upon") == [{"role": "user", "content": "Once upon"}]
    assert openai_completion_prompt_to_messages(["Once upon"]) == [{"role": "user", "content": "Once upon"}]
    for bad in (["a", "b"], [1, 2, 3], [[1, 2]]):
        with pytest.raises(TranslationError) as err:
            openai_completion_prompt_to_messages(bad)
        assert err.value.param == "prompt"


def test_chat_response_to_text_completion() -> None:
    chat = anthropic_to_openai_response(
        anthropic_message(content=[{"type": "text", "text": " a time"}], stop_reason="max_tokens")
    )
    out = chat_response_to_text_completion(chat)
    validate_openai("CreateCompletionResponse", out)
    Completion.model_validate(out)
    assert out["object"] == "text_completion"
    assert out["choices"] == [{"text": " a time", "index": 0, "logprobs": None, "finish_reason": "length"}]
    assert (out["id"], out["model"], out["created"], out["usage"]) == (
        chat["id"],
        chat["model"],
        chat["created"],
        chat["usage"],
    )
    tool_chat = anthropic_to_openai_response(
        anthropic_message(content=[{"type": "tool_use", "id": "t", "name": "f", "input": {}}], stop_reason="tool_use")
    )
    out = chat_response_to_text_completion(tool_chat)
    validate_openai("CreateCompletionResponse", out)
    assert out["choices"][0]["text"] == "" and out["choices"][0]["finish_reason"] == "stop"


def test_chat_chunks_to_text_completion_chunks() -> None:
    translator = AnthropicStreamTranslator("m", include_usage=True)
    events = [e for e in sse_events() if not (e[0].startswith("content_block") and e[1]["index"] > 0)]
    events[-2] = (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
    )
    converted = [chat_chunk_to_text_completion_chunk(c) for c in run_stream(translator, events)]
    for chunk in converted:
        assert chunk["object"] == "text_completion"
        if chunk["choices"] and chunk["choices"][0]["finish_reason"] is not None:
            Completion.model_validate(chunk)  # mid-stream chunks carry finish_reason None, as OpenAI's do
    assert "".join(c["choices"][0]["text"] for c in converted if c["choices"]) == "Let me check."
    assert converted[-2]["choices"][0]["finish_reason"] == "stop"
    validate_openai("CreateCompletionResponse", converted[-2])
    assert converted[-1]["choices"] == [] and converted[-1]["usage"]["completion_tokens"] == 3
    assert converted[1]["choices"][0]["finish_reason"] is None
