"""bifrost.providers.bedrock.translate: canonical OpenAI chat <-> Bedrock Converse, without a socket."""

from __future__ import annotations

import pytest

from bifrost.providers.bedrock.translate import (
    ConverseStreamTranslator,
    converse_to_openai_response,
    openai_to_converse_request,
)
from bifrost.providers.canonical import TranslationError
from bifrost.testing.fake_provider.bedrock_wire import event, frame

PNG = "iVBORw0KGgo="


def test_system_anywhere_becomes_top_level_system() -> None:
    out = openai_to_converse_request(
        {
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": [{"type": "text", "text": "B"}]},
            ]
        }
    )
    assert out == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "A"}, {"text": "B"}],
    }


def test_same_role_turns_merge_and_tool_results_come_first() -> None:
    out = openai_to_converse_request(
        {
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "let me see",
                    "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}],
                },
                {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "42"}]},
                {"role": "user", "content": "and?"},
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "q"}]},
        {
            "role": "assistant",
            "content": [{"text": "let me see"}, {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "42"}]}}, {"text": "and?"}],
        },
    ]


def test_inference_config_and_extras() -> None:
    out = openai_to_converse_request(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 10,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "top_k": 5,
            "reasoning_effort": "low",
            "presence_penalty": 1,
            "logit_bias": {"1": 2},
        }
    )
    assert out["inferenceConfig"] == {"maxTokens": 10, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    assert out["additionalModelRequestFields"] == {"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert "presence_penalty" not in out and "logit_bias" not in out


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "f"}}, {"tool": {"name": "f"}}),
    ],
)
def test_tool_choice(choice: object, expected: dict[str, object]) -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    out = openai_to_converse_request(
        {"messages": [{"role": "user", "content": "x"}], "tools": [tool], "tool_choice": choice}
    )
    assert out["toolConfig"]["toolChoice"] == expected
    assert out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object", "properties": {}}}


def test_images_and_documents() -> None:
    parts = [
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
        {
            "type": "file",
            "file": {"filename": "Q3 report (final).v2.pdf", "file_data": f"data:application/pdf;base64,{PNG}"},
        },
        {"type": "file", "file": {"file_data": PNG}},
    ]
    out = openai_to_converse_request({"messages": [{"role": "user", "content": parts}]})
    assert out["messages"][0]["content"] == [
        {"image": {"format": "jpeg", "source": {"bytes": PNG}}},
        {"document": {"format": "pdf", "name": "Q3 report (final) v2", "source": {"bytes": PNG}}},
        {"document": {"format": "pdf", "name": "document", "source": {"bytes": PNG}}},
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AA"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]},
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}, "reasoning_effort"),
    ],
)
def test_rejected_requests_name_the_param(body: dict[str, object], param: str) -> None:
    with pytest.raises(TranslationError) as info:
        openai_to_converse_request(body)
    assert info.value.param == param


def test_response_text_tools_reasoning_usage() -> None:
    resp = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                    {"text": "Sure."},
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 3, "cacheWriteInputTokens": 2},
    }
    out = converse_to_openai_response(resp, "m", "chatcmpl-1")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Sure." and choice["message"]["reasoning_content"] == "hmm"
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]
    assert out["usage"] == {
        "prompt_tokens": 15,
        "completion_tokens": 5,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 3},
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reasons(reason: str | None, finish: str) -> None:
    resp = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason}
    assert converse_to_openai_response(resp, "m", "id")["choices"][0]["finish_reason"] == finish


def test_stream_translation() -> None:
    t = ConverseStreamTranslator("m", "chatcmpl-1", include_usage=True)
    chunks = []
    for name, data in [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a":'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "1}"}}}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 4, "outputTokens": 2}}),
    ]:
        chunks += t.feed(name, data)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""} and deltas[1] == {"content": "Hi"}
    assert deltas[2]["tool_calls"][0] == {
        "index": 0,
        "id": "t1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    assert "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:5]) == '{"a":1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 6
    assert t.done and t.usage["prompt_tokens"] == 4
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}


def test_fake_event_stream_frames_decode_with_botocore() -> None:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    raw = event("messageStart", {"role": "assistant"}) + frame({":message-type": "exception"}, b'{"message":"x"}')
    buffer.add_data(raw[:7])
    assert list(buffer) == []  # a partial prelude waits for more bytes
    buffer.add_data(raw[7:])
    first, second = list(buffer)
    assert first.headers[":event-type"] == "messageStart" and first.payload == b'{"role":"assistant"}'
    assert second.headers[":message-type"] == "exception"
