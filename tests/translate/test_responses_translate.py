"""Unit tests of the pure Responses <-> chat translators (`bifrost.responses.translate` / `.stream`), no sockets.

Every response and stream event is validated against the OpenAI spec's schemas."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost.responses.store import MemoryStore, ResponseStore, StoredResponse
from bifrost.responses.stream import ChatToResponsesStream
from bifrost.responses.translate import (
    ResponsesTranslationError,
    chat_response_to_responses,
    pack_thinking_blocks,
    responses_request_to_chat,
    thinking_blocks_from,
)
from openapi_schema import validate_openai
from responses_api.helpers import check_event


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    return responses_request_to_chat({"model": "m", **body}, "prov")


# --- request -------------------------------------------------------------------------------------------


def test_string_input_and_instructions() -> None:
    assert to_chat({"input": "hi", "instructions": "be brief"})["messages"] == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}
    ]


def test_message_items_keep_roles_and_collapse_single_text() -> None:
    out = to_chat({"input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a", "annotations": []}]},
    ]})
    assert out["messages"] == [
        {"role": "developer", "content": "rules"}, {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]


def test_images_and_files() -> None:
    content = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AAA", "filename": "a.pdf"},
    ]
    assert to_chat({"input": [{"role": "user", "content": content}]})["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAA", "filename": "a.pdf"}},
    ]


def test_file_id_image_is_rejected() -> None:
    with pytest.raises(ResponsesTranslationError) as info:
        to_chat({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]})
    assert info.value.param == "input[0].content[0]"


def test_function_calls_join_the_assistant_turn_and_outputs_become_tool_messages() -> None:
    out = to_chat({"input": [
        {"role": "user", "content": "weather?"},
        {"type": "message", "role": "assistant", "content": "let me check"},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"P"}'},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"city":"L"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sun"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]},
    ]})
    assert out["messages"][1] == {
        "role": "assistant", "content": "let me check",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"P"}'}},
            {"id": "c2", "type": "function", "function": {"name": "w", "arguments": '{"city":"L"}'}},
        ],
    }
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "sun"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ]


def test_reasoning_items_go_to_the_next_assistant_message() -> None:
    blocks = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    out = to_chat({"input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}],
         "encrypted_content": pack_thinking_blocks(blocks)},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]})
    assert out["messages"][1]["reasoning_content"] == "hmm"
    assert out["messages"][1]["thinking_blocks"] == blocks


def test_foreign_encrypted_content_is_ignored() -> None:
    assert thinking_blocks_from("gAAAAB-openai-encrypted") == []


def test_unknown_item_type_is_rejected() -> None:
    with pytest.raises(ResponsesTranslationError) as info:
        to_chat({"input": [{"type": "item_reference", "id": "msg_1"}]})
    assert "item_reference" in info.value.message


def test_tools_choice_format_reasoning_and_limits() -> None:
    out = to_chat({
        "input": "x",
        "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"},
                   "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": True}},
        "reasoning": {"effort": "high", "summary": "auto"},
        "max_output_tokens": 9, "temperature": 0.5, "top_p": 0.9, "user": "u1",
        "metadata": {"k": "v"}, "store": True, "include": ["reasoning.encrypted_content"], "truncation": "auto",
        "stream": True,
    })
    assert out == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"},
                                                    "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"},
                                                                   "strict": True}},
        "reasoning_effort": "high",
        "max_tokens": 9, "temperature": 0.5, "top_p": 0.9, "user": "u1",
        "stream": True, "stream_options": {"include_usage": True},
    }


def test_json_object_format() -> None:
    assert to_chat({"input": "x", "text": {"format": {"type": "json_object"}}})["response_format"] == {
        "type": "json_object"
    }


@pytest.mark.parametrize("tool", ["web_search", "file_search", "code_interpreter", "computer_use_preview",
                                  "image_generation", "mcp"])
def test_builtin_tools_are_rejected_naming_tool_and_provider(tool: str) -> None:
    with pytest.raises(ResponsesTranslationError) as info:
        to_chat({"input": "x", "tools": [{"type": tool}]})
    assert tool in info.value.message and "prov" in info.value.message


@pytest.mark.parametrize("field", ["background", "conversation", "prompt"])
def test_openai_only_features_are_rejected(field: str) -> None:
    with pytest.raises(ResponsesTranslationError) as info:
        to_chat({"input": "x", field: {"id": "p"} if field != "background" else True})
    assert info.value.param == field


def test_empty_input_is_rejected() -> None:
    with pytest.raises(ResponsesTranslationError):
        to_chat({"input": []})


# --- response ------------------------------------------------------------------------------------------


def chat(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 3},
                  "completion_tokens_details": {"reasoning_tokens": 2}},
    }


def test_text_tools_reasoning_and_usage() -> None:
    body = {"model": "m", "input": "x", "metadata": {"a": "b"}, "tools": [{"type": "function", "name": "f"}]}
    resp = chat_response_to_responses(
        chat({"content": "hello", "reasoning_content": "think",
              "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        body, "resp_1", "m",
    )
    validate_openai("Response", resp)
    assert [item["type"] for item in resp["output"]] == ["reasoning", "message", "function_call"]
    assert resp["output"][1]["content"][0]["text"] == "hello"
    assert resp["output"][2]["call_id"] == "c1"
    assert resp["model"] == "up-model" and resp["metadata"] == {"a": "b"} and resp["status"] == "completed"
    assert resp["usage"] == {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15,
    }


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete(finish: str, reason: str) -> None:
    resp = chat_response_to_responses(chat({"content": "cut"}, finish), {"input": "x"}, "resp_1", "m")
    validate_openai("Response", resp)
    assert resp["status"] == "incomplete" and resp["incomplete_details"] == {"reason": reason}


# --- stream --------------------------------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def run(chunks: list[dict[str, Any]], usage: Any = None) -> list[dict[str, Any]]:
    stream = ChatToResponsesStream({"model": "m", "input": "x"}, "resp_1", "m")
    events = stream.start()
    for c in chunks:
        events += stream.feed(c)
    events += stream.finish(usage)
    for event in events:
        check_event(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def test_stream_reasoning_text_and_tool_calls() -> None:
    events = run([
        chunk({"role": "assistant", "reasoning_content": "th"}), chunk({"reasoning_content": "ink"}),
        chunk({"content": "Hel"}), chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                               "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ], usage={"prompt_tokens": 3, "completion_tokens": 4})
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    validate_openai("Response", final)
    assert [i["type"] for i in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert final["output"][2]["arguments"] == '{"a":1}' and final["output"][3]["call_id"] == "c2"
    assert final["usage"]["input_tokens"] == 3 and final["usage"]["output_tokens"] == 4
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.done"] == [0, 1, 2, 3]


def test_stream_length_ends_incomplete() -> None:
    events = run([chunk({"content": "a"}), chunk({}, "length")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_failure_ends_with_failed_and_error() -> None:
    stream = ChatToResponsesStream({"input": "x"}, "resp_1", "m")
    events = stream.start() + stream.feed(chunk({"content": "a"})) + stream.fail(429, "slow down")
    for event in events:
        check_event(event)
    assert [e["type"] for e in events][-2:] == ["response.failed", "error"]
    assert events[-2]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert events[-1]["message"] == "slow down"


# --- store ---------------------------------------------------------------------------------------------


async def test_store_round_trip_delete_and_ttl() -> None:
    store = ResponseStore(MemoryStore(), ttl_s=60)
    entry = StoredResponse({"id": "resp_1", "output": [{"type": "message"}]}, [{"type": "message", "id": "m1"}],
                           [{"type": "message", "id": "m0"}], "anthropic", False)
    await store.put(entry)
    got = await store.get("resp_1")
    assert got is not None and got.provider == "anthropic"
    assert [i["id"] for i in got.conversation() if "id" in i] == ["m0", "m1"]
    assert await store.delete("resp_1") and await store.get("resp_1") is None
    expired = ResponseStore(MemoryStore(), ttl_s=0)
    await expired.put(entry)
    assert await expired.get("resp_1") is None


async def test_memory_store_evicts_the_oldest() -> None:
    backend = MemoryStore(max_entries=2)
    for name in ("a", "b", "c"):
        await backend.put(name, b"x", 60)
    assert await backend.get("a") is None and await backend.get("c") == b"x"
