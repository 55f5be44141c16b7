"""Unit tests of the pure Gemini translators: OpenAI -> Gemini (`providers.gemini.translate`, `.schema`) and
Gemini client wire -> OpenAI (`integrations.genai`). No sockets."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from bifrost.integrations.genai import (
    OpenAIStreamToGenai,
    genai_embed_to_openai,
    genai_error,
    genai_request_to_openai,
    openai_embeddings_to_genai,
    openai_response_to_genai,
)
from bifrost.providers.gemini.schema import MAX_REF_DEPTH, to_gemini_schema
from bifrost.providers.gemini.translate import (
    SIGNATURE_MARK,
    GeminiStreamTranslator,
    PromptBlocked,
    TranslationError,
    gemini_to_openai_embeddings,
    gemini_to_openai_response,
    gemini_usage_to_openai,
    openai_to_gemini_embeddings,
    openai_to_gemini_request,
    split_call_id,
)

USER = {"role": "user", "content": "Hi"}


def request(**body: Any) -> dict[str, Any]:
    return openai_to_gemini_request({"messages": [USER], **body}, "gemini-2.5-flash")


# --- schema ----------------------------------------------------------------------------------------------


def test_schema_drops_unsupported_keywords() -> None:
    schema = {"type": "object", "additionalProperties": False, "$schema": "x", "properties": {
        "a": {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 2, "minimum": 1}}, "required": ["a", "zz"]}
    assert to_gemini_schema(schema) == {
        "type": "object", "properties": {"a": {"type": "integer", "minimum": 1}}, "required": ["a"]
    }


def test_schema_inlines_refs_and_drops_defs() -> None:
    schema = {"definitions": {"P": {"type": "string", "description": "inner"}},
              "type": "object", "properties": {"p": {"$ref": "#/definitions/P", "description": "outer"}}}
    assert to_gemini_schema(schema) == {"type": "object", "properties": {"p": {"type": "string",
                                                                              "description": "outer"}}}


def test_schema_recursive_ref_is_cut() -> None:
    schema = {"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
              "$ref": "#/$defs/Node"}
    out = to_gemini_schema(schema)
    depth = 0
    while "properties" in out:
        out = out["properties"]["next"]
        depth += 1
    assert out == {"type": "object"} and depth == MAX_REF_DEPTH


def test_schema_nullable_forms() -> None:
    assert to_gemini_schema({"type": ["string", "null"]}) == {"type": "string", "nullable": True}
    assert to_gemini_schema({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == {"type": "integer",
                                                                                   "nullable": True}
    assert to_gemini_schema({"oneOf": [{"type": "integer"}, {"type": "string"}]}) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }
    assert to_gemini_schema({"type": ["integer", "string"]}) == {"anyOf": [{"type": "integer"}, {"type": "string"}]}


def test_schema_all_of_merged_and_enums() -> None:
    schema = {"allOf": [{"type": "object", "properties": {"a": {"const": "x"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "integer", "enum": [1, 2], "format": "int32"}}}]}
    assert to_gemini_schema(schema) == {
        "type": "object", "properties": {"a": {"type": "string", "enum": ["x"]},
                                         "b": {"type": "integer", "format": "int32"}}, "required": ["a"]
    }
    assert to_gemini_schema({"type": "string", "format": "uri"}) == {"type": "string"}


def test_schema_input_not_mutated() -> None:
    schema = {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": False}
    copy = {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": False}
    to_gemini_schema(schema)
    assert schema == copy


# --- request ---------------------------------------------------------------------------------------------


def test_request_minimal() -> None:
    assert request() == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_request_rejects_empty_and_bad_roles() -> None:
    with pytest.raises(TranslationError):
        openai_to_gemini_request({"messages": []}, "m")
    with pytest.raises(TranslationError) as info:
        openai_to_gemini_request({"messages": [{"role": "robot", "content": "x"}]}, "m")
    assert info.value.param == "messages[0].role"
    with pytest.raises(TranslationError):
        openai_to_gemini_request({"messages": [{"role": "system", "content": "only system"}]}, "m")


def test_request_generation_config() -> None:
    out = request(temperature=0, top_p=0.5, top_k=3, max_completion_tokens=9, max_tokens=99, stop="X", n=2, seed=7,
                  presence_penalty=0.1, frequency_penalty=0.2, logprobs=True, user="u", store=True)
    assert out["generationConfig"] == {"temperature": 0, "topP": 0.5, "topK": 3, "seed": 7, "presencePenalty": 0.1,
                                       "frequencyPenalty": 0.2, "maxOutputTokens": 9, "stopSequences": ["X"],
                                       "candidateCount": 2}
    assert set(out) == {"contents", "generationConfig"}


@pytest.mark.parametrize(("model", "effort", "config"), [
    ("gemini-2.5-pro", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
    ("gemini-2.5-pro", "none", {"thinkingBudget": 0}),
    ("gemini-3-flash", "medium", {"thinkingLevel": "MEDIUM", "includeThoughts": True}),
])
def test_reasoning_effort(model: str, effort: str, config: dict[str, Any]) -> None:
    out = openai_to_gemini_request({"messages": [USER], "reasoning_effort": effort}, model)
    assert out["generationConfig"]["thinkingConfig"] == config


def test_reasoning_effort_unknown_rejected() -> None:
    with pytest.raises(TranslationError) as info:
        request(reasoning_effort="extreme")
    assert info.value.param == "reasoning_effort"


def test_request_media_parts() -> None:
    content = [
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,AAA"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.PNG?z=1"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/file"}},
        {"type": "file", "file": {"file_data": "QUJD"}},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "mp3"}},
    ]
    parts = openai_to_gemini_request({"messages": [{"role": "user", "content": content}]}, "m")["contents"][0]["parts"]
    assert parts == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "AAA"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x/y.PNG?z=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/file"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "QUJD"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "AA"}},
    ]


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "ftp://x"}},
    {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
    {"type": "file", "file": {"file_id": "file-1"}},
    {"type": "video", "video": {}},
])
def test_request_bad_parts_rejected(part: dict[str, Any]) -> None:
    with pytest.raises(TranslationError) as info:
        openai_to_gemini_request({"messages": [{"role": "user", "content": [part]}]}, "m")
    assert info.value.param is not None and info.value.param.startswith("messages[0].content[0]")


def test_tool_call_signature_round_trip() -> None:
    call_id = f"call_1{SIGNATURE_MARK}c2lnbmF0dXJl"
    assert split_call_id(call_id) == ("call_1", "c2lnbmF0dXJl")
    assert split_call_id("call_2") == ("call_2", None)
    messages = [USER, {"role": "assistant", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": [{"type": "text", "text": "[1, 2]"}]}]
    contents = openai_to_gemini_request({"messages": messages}, "m")["contents"]
    assert contents[1] == {"role": "model", "parts": [
        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2lnbmF0dXJl"}]}
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {"name": "f",
                                                                           "response": {"result": "[1, 2]"}}}]}


def test_bad_tool_arguments_rejected() -> None:
    messages = [USER, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]
    with pytest.raises(TranslationError) as info:
        openai_to_gemini_request({"messages": messages}, "m")
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_legacy_functions() -> None:
    messages = [USER, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "{\"ok\": true}"}]
    out = openai_to_gemini_request({"messages": messages, "functions": [{"name": "f"}], "function_call": "auto"}, "m")
    assert out["tools"] == [{"functionDeclarations": [{"name": "f"}]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert out["contents"][2]["parts"] == [{"functionResponse": {"name": "f", "response": {"ok": True}}}]


def test_non_function_tools_rejected() -> None:
    with pytest.raises(TranslationError) as info:
        request(tools=[{"type": "custom", "custom": {"name": "x"}}])
    assert info.value.param == "tools[0].type"


def test_response_format() -> None:
    assert request(response_format={"type": "text"}) == request()
    with pytest.raises(TranslationError):
        request(response_format={"type": "xml"})


def test_safety_settings_pass_through() -> None:
    settings = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    assert request(safety_settings=settings)["safetySettings"] == settings


# --- response --------------------------------------------------------------------------------------------


def test_response_text_thoughts_calls_usage() -> None:
    resp = {
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "plan", "thought": True}, {"text": "A"}, {"text": "B"},
            {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "U0lH"},
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 2,
                          "totalTokenCount": 17, "cachedContentTokenCount": 4},
        "modelVersion": "gemini-2.5-flash-001", "responseId": "r1",
    }
    out = gemini_to_openai_response(resp, "gemini-2.5-flash")
    message = out["choices"][0]["message"]
    assert message["content"] == "AB" and message["reasoning_content"] == "plan"
    call = message["tool_calls"][0]
    assert call["id"].endswith(SIGNATURE_MARK + "U0lH") and call["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
                            "prompt_tokens_details": {"cached_tokens": 4},
                            "completion_tokens_details": {"reasoning_tokens": 2}}
    assert (out["id"], out["model"]) == ("r1", "gemini-2.5-flash-001")


@pytest.mark.parametrize(("reason", "finish"), [
    ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("OTHER", "stop"), (None, "stop"),
])
def test_finish_reasons(reason: str | None, finish: str) -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert gemini_to_openai_response(resp)["choices"][0]["finish_reason"] == finish


def test_prompt_blocked() -> None:
    with pytest.raises(PromptBlocked) as info:
        gemini_to_openai_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert info.value.reason == "PROHIBITED_CONTENT" and "PROHIBITED_CONTENT" in info.value.message


def test_usage_defaults() -> None:
    assert gemini_usage_to_openai(None)["total_tokens"] == 0


def test_stream_translator() -> None:
    t = GeminiStreamTranslator("m", include_usage=True)
    out = t.feed({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "responseId": "r",
                  "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}})
    assert [c["choices"][0]["delta"] for c in out] == [{"role": "assistant", "content": ""}, {"content": "Hel"}]
    out = t.feed({"candidates": [{"content": {"parts": [{"text": "lo"}, {"functionCall": {"name": "f", "args": {}}}]},
                                  "finishReason": "STOP"}],
                  "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}})
    assert out[0]["choices"][0]["delta"] == {"content": "lo"}
    assert out[1]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert out[2]["choices"][0]["finish_reason"] == "tool_calls"
    tail = t.finish()
    assert tail[0]["choices"] == [] and tail[0]["usage"]["total_tokens"] == 5
    assert {c["id"] for c in out + tail} == {"r"}


def test_stream_without_finish_is_an_error() -> None:
    t = GeminiStreamTranslator("m", include_usage=False)
    t.feed({"candidates": [{"content": {"parts": [{"text": "x"}]}}]})
    with pytest.raises(ValueError):
        t.finish()


# --- embeddings ------------------------------------------------------------------------------------------


def test_embeddings_both_ways() -> None:
    assert openai_to_gemini_embeddings({"input": "a"}, "e") == {
        "requests": [{"model": "models/e", "content": {"parts": [{"text": "a"}]}}]
    }
    with pytest.raises(TranslationError):
        openai_to_gemini_embeddings({"input": [[1, 2]]}, "e")
    resp = {"embeddings": [{"values": [0.5, 1.0]}]}
    assert gemini_to_openai_embeddings(resp, "e")["data"][0]["embedding"] == [0.5, 1.0]
    encoded = gemini_to_openai_embeddings(resp, "e", "base64")["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (0.5, 1.0)
    assert gemini_to_openai_embeddings({"embedding": {"values": [1.0]}}, "e")["data"][0]["embedding"] == [1.0]


# --- the genai client wire -> OpenAI ------------------------------------------------------------------------


def test_genai_request() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}, {"inlineData": {"mimeType": "audio/wav", "data": "AA"}}]},
            {"role": "model", "parts": [{"text": "t", "thought": True},
                                        {"functionCall": {"name": "f", "args": {"a": 1}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}, {"text": "go"}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {
            "a": {"type": "INTEGER", "nullable": True}}, "propertyOrdering": ["a"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "generationConfig": {"maxOutputTokens": 5, "topK": 2, "responseMimeType": "application/json",
                             "thinkingConfig": {"thinkingLevel": "LOW"}},
    }
    out = genai_request_to_openai(body, "gpt-4o", stream=True)
    assert out["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                     {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "call_1_1", "content": '{"ok":1}'},
        {"role": "user", "content": "go"},
    ]
    assert out["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {
        "a": {"type": ["integer", "null"]}}}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["max_tokens"] == 5 and "top_k" not in out and out["response_format"] == {"type": "json_object"}
    assert out["reasoning_effort"] == "low" and out["stream_options"] == {"include_usage": True}


def test_genai_request_rejections() -> None:
    with pytest.raises(TranslationError):
        genai_request_to_openai({"contents": []}, "m", False)
    with pytest.raises(TranslationError) as info:
        genai_request_to_openai({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"codeExecution": {}}]}, "m",
                                False)
    assert "codeExecution" in str(info.value)
    with pytest.raises(TranslationError):
        genai_request_to_openai({"contents": [{"parts": [{"inlineData": {"mimeType": "video/mp4", "data": ""}}]}]},
                                "m", False)
    with pytest.raises(TranslationError):
        genai_request_to_openai({"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
                                "m", False)


def test_openai_response_to_genai() -> None:
    resp = {"id": "c1", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "length", "message": {
        "content": "hi", "reasoning_content": "r", "tool_calls": [
            {"id": "t1", "function": {"name": "f", "arguments": "not json"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                  "completion_tokens_details": {"reasoning_tokens": 1}}}
    out = openai_response_to_genai(resp, "x")
    assert out["candidates"][0]["content"]["parts"] == [
        {"text": "r", "thought": True}, {"text": "hi"},
        {"functionCall": {"id": "t1", "name": "f", "args": {"_raw": "not json"}}},
    ]
    assert out["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert out["usageMetadata"] == {"promptTokenCount": 3, "candidatesTokenCount": 3, "totalTokenCount": 7,
                                    "thoughtsTokenCount": 1}


def test_openai_stream_to_genai() -> None:
    t = OpenAIStreamToGenai("m")
    assert t.feed({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}) == []
    text = t.feed({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]})
    assert text[0]["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    t.feed({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {
        "name": "f", "arguments": '{"a"'}}]}}]})
    t.feed({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
                         "finish_reason": "tool_calls"}]})
    t.feed({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    last = t.finish()[0]
    assert last["candidates"][0]["content"]["parts"] == [{"functionCall": {"id": "t", "name": "f", "args": {"a": 1}}}]
    assert last["candidates"][0]["finishReason"] == "STOP" and last["usageMetadata"]["totalTokenCount"] == 3


def test_genai_embeddings_and_errors() -> None:
    body = {"requests": [{"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 3},
                         {"content": {"parts": [{"text": "b"}]}}]}
    assert genai_embed_to_openai(body, "e", batch=True) == {"model": "e", "input": ["a", "b"],
                                                            "encoding_format": "float", "dimensions": 3}
    resp = {"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}
    assert openai_embeddings_to_genai(resp, batch=True) == {"embeddings": [{"values": [1.0]}, {"values": [2.0]}]}
    assert openai_embeddings_to_genai(resp, batch=False) == {"embedding": {"values": [1.0]}}
    assert genai_error(429, "slow down") == {"error": {"code": 429, "message": "slow down",
                                                       "status": "RESOURCE_EXHAUSTED"}}
    assert genai_error(418, "teapot")["error"]["status"] == "FAILED_PRECONDITION"


def test_leading_system_messages_become_the_system_instruction() -> None:
    out = openai_to_gemini_request(
        {"messages": [{"role": "system", "content": "a"}, {"role": "developer", "content": "b"}, USER]}, "m"
    )
    assert out["systemInstruction"] == {"parts": [{"text": "a"}, {"text": "b"}]}
    assert out["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_a_mid_conversation_system_message_stays_in_place_as_a_system_note() -> None:
    messages = [
        USER,
        {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "Go on"},
    ]
    out = openai_to_gemini_request({"messages": messages}, "m")
    assert "systemInstruction" not in out
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello"}]},
        {"role": "user", "parts": [{"text": "<system-reminder>be brief</system-reminder>"}, {"text": "Go on"}]},
    ]


def test_a_mid_conversation_system_message_with_an_image_is_rejected() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(TranslationError, match="only contain text"):
        openai_to_gemini_request({"messages": [USER, {"role": "system", "content": [image]}]}, "m")

