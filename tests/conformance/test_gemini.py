"""Conformance cells of the OpenAI route -> Gemini column: the official openai SDK through a gateway process to the
fake provider speaking Gemini's wire. Each test asserts the exact request Gemini received (URL, key header,
body) and what the SDK returned."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.providers.gemini.translate import SIGNATURE_MARK
from bifrost.testing.fake_provider import FakeProvider
from bifrost.testing.fake_provider.gemini_wire import SIGNATURE
from bifrost.testing.fake_provider.openai_wire import embedding_vector
from conftest import GatewayFactory, GatewayProcess
from openapi_schema import validate_openai

from .helpers import (
    GEMINI_3,
    GEMINI_EMBED,
    IMAGE_URL,
    PDF_B64,
    PNG_B64,
    check_gemini_upstream,
    conformance_config,
    extras,
    no_secrets,
    openai_chat,
    openai_chat_stream,
    openai_client,
    openai_sse_chunks,
    raw_post,
    upstream,
    validate_completion_chunk,
)
from .matrix import GEMINI, OPENAI_TO_GEMINI, cells

MODEL = f"gemini/{GEMINI}"
HI = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
GEMINI_WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
DECLARATIONS = [{"name": "get_weather", "description": "Weather", "parameters": GEMINI_WEATHER}, {"name": "get_time"}]


@pytest.fixture
def own_gateway(fake: FakeProvider, start_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """A gateway for one test: a 429 cools the key down, which must not leak into other tests."""
    yield start_gateway(conformance_config(fake.url))


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()
    validate_openai("ErrorResponse", body)
    no_secrets(exc.response.text)
    return body["error"]  # type: ignore[no-any-return]


def upstream_calls(fake: FakeProvider) -> int:
    return len([r for r in fake.control.log() if r["path"].startswith("/v1beta/")])


def stream_text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- chat -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("plain chat", OPENAI_TO_GEMINI))
def test_plain_chat(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Hi there, human.", "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    ex = openai_chat(gateway, model=MODEL, messages=[{"role": "user", "content": "Hello, Gemini"}])
    body = check_gemini_upstream(upstream(fake))
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hello, Gemini"}]}]}
    resp = ex.obj
    assert resp.object == "chat.completion" and resp.model == GEMINI and resp.id
    message = resp.choices[0].message
    assert message.role == "assistant" and message.content == "Hi there, human." and message.tool_calls is None
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 4, 13)
    assert ex.headers["x-bifrost-provider"] == "gemini" and extras(resp)["provider"] == "gemini"


@pytest.mark.parametrize("col", cells("system prompt", OPENAI_TO_GEMINI))
def test_system_prompt(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Salut"},
        {"role": "system", "content": "Now answer in German."},  # mid-conversation (Claude Code's beta)
    ]
    openai_chat(gateway, model=MODEL, messages=messages)
    body = check_gemini_upstream(upstream(fake))
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Salut"}]},
        {"role": "user", "parts": [{"text": "<system-reminder>Now answer in German.</system-reminder>"}]},
    ]


@pytest.mark.parametrize("col", cells("multi-turn", OPENAI_TO_GEMINI))
def test_multi_turn(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    messages = [
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three"},
        {"role": "user", "content": [{"type": "text", "text": "Four"}]},
    ]
    ex = openai_chat(gateway, model=MODEL, messages=messages)
    assert check_gemini_upstream(upstream(fake))["contents"] == [
        {"role": "user", "parts": [{"text": "One"}]},
        {"role": "model", "parts": [{"text": "Two"}]},
        {"role": "user", "parts": [{"text": "Three"}, {"text": "Four"}]},
    ]
    assert ex.obj.choices[0].message.content == f"Hello from fake {GEMINI}!"


@pytest.mark.parametrize("col", cells("stop sequences", OPENAI_TO_GEMINI))
@pytest.mark.parametrize(("stop", "expected"), [("END", ["END"]), (["a", "b"], ["a", "b"])], ids=["string", "list"])
def test_stop_sequences(gateway: GatewayProcess, fake: FakeProvider, col: str, stop: Any, expected: Any) -> None:
    openai_chat(gateway, model=MODEL, messages=HI, stop=stop, temperature=0.2, top_p=0.9)
    config = check_gemini_upstream(upstream(fake))["generationConfig"]
    assert config == {"stopSequences": expected, "temperature": 0.2, "topP": 0.9}


@pytest.mark.parametrize("col", cells("max_tokens", OPENAI_TO_GEMINI))
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", None])
def test_max_tokens(gateway: GatewayProcess, fake: FakeProvider, col: str, field: str | None) -> None:
    kwargs = {field: 77} if field else {}
    openai_chat(gateway, model=MODEL, messages=HI, **kwargs)
    body = check_gemini_upstream(upstream(fake))
    if field:
        assert body["generationConfig"] == {"maxOutputTokens": 77}
    else:
        assert "generationConfig" not in body  # Gemini's own default applies


@pytest.mark.parametrize("col", cells("usage (incl. cache tokens)", OPENAI_TO_GEMINI))
def test_usage(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    script = {"reply": "a b c", "thinking": "hmm so", "usage": {"prompt_tokens": 30, "completion_tokens": 8,
                                                                "cached_tokens": 12}}
    fake.control.script(script, script)
    usage = openai_chat(gateway, model=MODEL, messages=HI).obj.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (30, 8, 38)
    assert usage.prompt_tokens_details.cached_tokens == 12
    assert usage.completion_tokens_details.reasoning_tokens == 2
    chunks = openai_chat_stream(gateway, model=MODEL, messages=HI, stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    streamed = chunks[-1].usage
    assert (streamed.prompt_tokens, streamed.completion_tokens, streamed.total_tokens) == (30, 8, 38)
    assert streamed.prompt_tokens_details.cached_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])  # running totals are not forwarded chunk by chunk


def _finish_case(feature: str, script: dict[str, Any], reason: str) -> Any:
    return pytest.param(script, reason, id=reason, marks=pytest.mark.cell(feature, OPENAI_TO_GEMINI))


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        _finish_case("finish reason: stop", {"reply": "done"}, "stop"),
        _finish_case("finish reason: length", {"reply": "cut", "finish_reason": "length"}, "length"),
        _finish_case("finish reason: tool calls", {"tool_calls": [{"name": "get_time", "arguments": {}}]},
                     "tool_calls"),
        _finish_case("finish reason: refusal", {"reply": "", "finish_reason": "content_filter"}, "content_filter"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_finish_reasons(
    gateway: GatewayProcess, fake: FakeProvider, script: dict[str, Any], reason: str, stream: bool
) -> None:
    fake.control.script(script)
    request = {"model": MODEL, "messages": HI, "tools": TOOLS}
    if stream:
        chunks = openai_chat_stream(gateway, **request)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == [reason]
        assert check_gemini_upstream(upstream(fake), action="streamGenerateContent")
    else:
        assert openai_chat(gateway, **request).obj.choices[0].finish_reason == reason


# --- tools ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, None),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
    ids=["absent", "auto", "required", "none", "named"],
)
@pytest.mark.parametrize("col", cells("tools", OPENAI_TO_GEMINI))
def test_tools(gateway: GatewayProcess, fake: FakeProvider, col: str, tool_choice: Any, expected: Any) -> None:
    fake.control.script({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
    kwargs = {"tool_choice": tool_choice} if tool_choice is not None else {}
    ex = openai_chat(gateway, model=MODEL, messages=HI, tools=TOOLS, parallel_tool_calls=False, **kwargs)
    body = check_gemini_upstream(upstream(fake))
    assert body["tools"] == [{"functionDeclarations": DECLARATIONS}]
    assert body.get("toolConfig") == ({"functionCallingConfig": expected} if expected else None)
    assert "parallel_tool_calls" not in json.dumps(body)
    call = ex.obj.choices[0].message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"} and call.id.startswith("call_")


@pytest.mark.parametrize("col", cells("tools", OPENAI_TO_GEMINI))
def test_tool_schema_converted_to_gemini_subset(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """A pydantic-style schema ($defs, $ref, anyOf with null, additionalProperties) is accepted by Gemini."""
    schema = {
        "$defs": {"Place": {"type": "object", "properties": {"name": {"type": "string"}},
                            "required": ["name"], "additionalProperties": False}},
        "type": "object",
        "properties": {
            "place": {"$ref": "#/$defs/Place"},
            "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        },
        "required": ["place"],
        "additionalProperties": False,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    tools = [{"type": "function", "function": {"name": "book", "parameters": schema, "strict": True}}]
    openai_chat(gateway, model=MODEL, messages=HI, tools=tools)
    parameters = check_gemini_upstream(upstream(fake))["tools"][0]["functionDeclarations"][0]["parameters"]
    assert parameters == {
        "type": "object",
        "properties": {
            "place": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "when": {"type": "string", "format": "date-time", "nullable": True, "default": None},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["place"],
    }


@pytest.mark.parametrize("col", cells("parallel tool calls", OPENAI_TO_GEMINI))
def test_parallel_tool_calls(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "UTC"}}]
    fake.control.script({"tool_calls": calls})
    message = openai_chat(gateway, model=MODEL, messages=HI, tools=TOOLS).obj.choices[0].message
    got = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]
    assert got == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "UTC"})]
    assert len({c.id for c in message.tool_calls}) == 2 and message.content is None


@pytest.mark.parametrize("col", cells("tool results", OPENAI_TO_GEMINI))
def test_tool_results(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    messages = [
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        {"role": "user", "content": "Thanks"},
    ]
    openai_chat(gateway, model=MODEL, messages=messages, tools=TOOLS)
    assert check_gemini_upstream(upstream(fake))["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            {"text": "Thanks"},
        ]},
    ]


@pytest.mark.parametrize("col", cells("tool results", OPENAI_TO_GEMINI))
def test_tool_result_without_its_call_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    messages = [*HI, {"role": "tool", "tool_call_id": "call_zz", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=messages)
    error = error_of(info.value)
    assert error["param"] == "messages[1].tool_call_id" and "call_zz" in error["message"]
    assert upstream_calls(fake) == 0


@pytest.mark.parametrize("col", cells("streaming tool calls", OPENAI_TO_GEMINI))
def test_streaming_tool_calls(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    args = {"city": "Paris", "note": "na\u00efve \"quoted\" \u2603", "nested": {"deep": [1, 2, {"x": None}]}}
    fake.control.script({"tool_calls": [{"name": "get_weather", "arguments": args}, {"name": "get_time"}]})
    with openai_client(gateway).chat.completions.stream(model=MODEL, messages=HI, tools=TOOLS) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", args), ("get_time", {})
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    check_gemini_upstream(upstream(fake), action="streamGenerateContent")


# --- media ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("images (base64)", OPENAI_TO_GEMINI))
def test_image_base64(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}}]
    openai_chat(gateway, model=MODEL, messages=[{"role": "user", "content": content}])
    assert check_gemini_upstream(upstream(fake))["contents"][0]["parts"] == [
        {"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    ]


@pytest.mark.parametrize("col", cells("images (URL)", OPENAI_TO_GEMINI))
def test_image_url(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": IMAGE_URL}}]
    openai_chat(gateway, model=MODEL, messages=[{"role": "user", "content": content}])
    assert check_gemini_upstream(upstream(fake))["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/jpeg", "fileUri": IMAGE_URL}}
    ]


@pytest.mark.parametrize("col", cells("documents (PDF base64)", OPENAI_TO_GEMINI))
def test_pdf_and_audio(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    content = [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    openai_chat(gateway, model=MODEL, messages=[{"role": "user", "content": content}])
    assert check_gemini_upstream(upstream(fake))["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
    ]


# --- streaming ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("streaming text", OPENAI_TO_GEMINI))
def test_streaming_text(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "one two three four"})
    chunks = openai_chat_stream(gateway, model=MODEL, messages=HI)
    assert stream_text(chunks) == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and all(c.model == GEMINI for c in chunks)
    body = check_gemini_upstream(upstream(fake), action="streamGenerateContent")
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: 400 invalid request", OPENAI_TO_GEMINI))
def test_400_from_upstream(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    message = "* GenerateContentRequest.generation_config.temperature: must be between 0 and 2"
    fake.control.script({"status": 400, "error_message": message})
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=HI)
    error = error_of(info.value)
    assert error["type"] == "invalid_request_error" and error["message"] == message
    assert info.value.response.headers["x-bifrost-provider"] == "gemini"


@pytest.mark.parametrize("col", cells("error: 400 invalid request", OPENAI_TO_GEMINI))
def test_400_untranslatable_request(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    content = [{"type": "file", "file": {"file_id": "file-abc"}}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    error = error_of(info.value)
    assert error["param"] == "messages[0].content[0].file.file_id" and "file_id" in error["message"]
    assert upstream_calls(fake) == 0


@pytest.mark.parametrize("col", cells("error: 429 rate limit + Retry-After", OPENAI_TO_GEMINI))
def test_429(own_gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 429, "retry_after": 7, "error_message": "Resource has been exhausted"})
    with pytest.raises(openai.RateLimitError) as info:
        openai_client(own_gateway).chat.completions.create(model=MODEL, messages=HI)
    assert info.value.status_code == 429 and info.value.response.headers["retry-after"] == "7"
    error = error_of(info.value)
    assert error["type"] == "rate_limit_exceeded" and error["message"] == "Resource has been exhausted"


@pytest.mark.parametrize("col", cells("error: overloaded (Anthropic 529 / OpenAI 503)", OPENAI_TO_GEMINI))
def test_overloaded(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 503, "error_message": "The model is overloaded. Please try again later."})
    with pytest.raises(openai.InternalServerError) as info:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=HI)
    assert info.value.status_code == 503
    assert error_of(info.value)["message"] == "The model is overloaded. Please try again later."


@pytest.mark.parametrize("col", cells("error: mid-stream error event", OPENAI_TO_GEMINI))
def test_mid_stream_error(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "one two three four", "stream_error_after": 2, "error_message": "Backend hiccup"})
    status, _, raw = raw_post(gateway.openai_url + "/v1/chat/completions",
                              {"model": MODEL, "messages": HI, "stream": True})
    assert status == 200
    chunks = openai_sse_chunks(raw)
    assert chunks[-1]["error"]["message"] == "Backend hiccup"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1]) == "one two "
    no_secrets(raw.decode())


@pytest.mark.parametrize("col", cells("error: stream broken off", OPENAI_TO_GEMINI))
def test_stream_broken_off(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "one two three four", "cut_after": 2})
    status, _, raw = raw_post(gateway.openai_url + "/v1/chat/completions",
                              {"model": MODEL, "messages": HI, "stream": True})
    assert status == 200
    chunks = openai_sse_chunks(raw)
    assert "error" in chunks[-1] and chunks[-1]["error"]["type"] == "upstream_error"


# --- n, text completions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("n > 1", OPENAI_TO_GEMINI))
def test_n_is_candidate_count(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "same"})
    resp = openai_chat(gateway, model=MODEL, messages=HI, n=2).obj
    assert check_gemini_upstream(upstream(fake))["generationConfig"] == {"candidateCount": 2}
    assert [(c.index, c.message.content) for c in resp.choices] == [(0, "same"), (1, "same")]


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_GEMINI))
def test_text_completions(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "a poem"}, {"reply": "streamed poem"})
    client = openai_client(gateway)
    done = client.completions.create(model=MODEL, prompt="Write", max_tokens=20)
    assert done.choices[0].text == "a poem" and done.object == "text_completion"
    body = check_gemini_upstream(upstream(fake))
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Write"}]}],
                    "generationConfig": {"maxOutputTokens": 20}}
    chunks = list(client.completions.create(model=MODEL, prompt="Write", stream=True))
    for chunk in chunks:
        validate_completion_chunk(chunk.to_dict())
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "streamed poem"


# --- Gemini-only rows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("reasoning (thinking)", OPENAI_TO_GEMINI))
@pytest.mark.parametrize(
    ("model", "effort", "config"),
    [
        (GEMINI, "high", {"thinkingBudget": 24576, "includeThoughts": True}),
        (GEMINI, "none", {"thinkingBudget": 0}),
        (GEMINI_3, "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
    ],
    ids=["budget", "off", "level"],
)
def test_reasoning_effort(
    gateway: GatewayProcess, fake: FakeProvider, col: str, model: str, effort: str, config: dict[str, Any]
) -> None:
    fake.control.script({"reply": "42", "thinking": "Let me think."})
    resp = openai_chat(gateway, model=f"gemini/{model}", messages=HI, reasoning_effort=effort).obj
    assert check_gemini_upstream(upstream(fake), model)["generationConfig"] == {"thinkingConfig": config}
    message = resp.choices[0].message
    assert message.content == "42" and message.model_extra["reasoning_content"] == "Let me think."


@pytest.mark.parametrize("col", cells("reasoning (thinking)", OPENAI_TO_GEMINI))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_thought_signature_round_trip(gateway: GatewayProcess, fake: FakeProvider, col: str, stream: bool) -> None:
    """Gemini 3 rejects a replayed functionCall without its signature: the signature rides in the tool-call id."""
    model = f"gemini/{GEMINI_3}"
    fake.control.script({"thinking": "Need weather.", "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {}}]})
    if stream:
        with openai_client(gateway).chat.completions.stream(model=model, messages=HI, tools=TOOLS) as s:
            for _ in s:
                pass
            message = s.get_final_completion().choices[0].message
    else:
        message = openai_chat(gateway, model=model, messages=HI, tools=TOOLS).obj.choices[0].message
    first, second = message.tool_calls
    assert first.id.endswith(SIGNATURE_MARK + SIGNATURE) and SIGNATURE_MARK not in second.id
    history = [
        *HI,
        message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_call_id": first.id, "content": "sunny"},
        {"role": "tool", "tool_call_id": second.id, "content": "noon"},
    ]
    answer = openai_chat(gateway, model=model, messages=history, tools=TOOLS).obj
    assert answer.choices[0].message.content  # Gemini accepted the replay
    model_turn = check_gemini_upstream(upstream(fake), GEMINI_3)["contents"][1]
    assert model_turn["parts"][0] == {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE
    }
    assert "thoughtSignature" not in model_turn["parts"][1]


@pytest.mark.parametrize("col", cells("structured output (response_format)", OPENAI_TO_GEMINI))
def test_structured_output(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    schema = {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}, "required": ["n"],
              "additionalProperties": False}
    fake.control.script({"reply": '{"n": 1}'}, {"reply": "{}"})
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
    answer = openai_chat(gateway, model=MODEL, messages=HI, response_format=fmt).obj
    assert answer.choices[0].message.content == '{"n": 1}'
    assert check_gemini_upstream(upstream(fake))["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"n": {"type": "integer", "nullable": True}},
                           "required": ["n"]},
    }
    openai_chat(gateway, model=MODEL, messages=HI, response_format={"type": "json_object"})
    assert check_gemini_upstream(upstream(fake))["generationConfig"] == {"responseMimeType": "application/json"}


@pytest.mark.parametrize("col", cells("embeddings", OPENAI_TO_GEMINI))
@pytest.mark.parametrize("encoding", ["float", "base64", None], ids=["float", "base64", "sdk-default"])
def test_embeddings(gateway: GatewayProcess, fake: FakeProvider, col: str, encoding: str | None) -> None:
    kwargs: dict[str, Any] = {"encoding_format": encoding} if encoding else {}
    raw = openai_client(gateway).embeddings.with_raw_response.create(
        model=f"gemini/{GEMINI_EMBED}", input=["alpha", "beta"], dimensions=4, **kwargs
    )
    body = raw.http_response.json()
    if encoding == "float":  # the spec's schema knows only float arrays
        validate_openai("CreateEmbeddingResponse", body)
    assert check_gemini_upstream(upstream(fake), GEMINI_EMBED, "batchEmbedContents") == {"requests": [
        {"model": f"models/{GEMINI_EMBED}", "content": {"parts": [{"text": "alpha"}]}, "outputDimensionality": 4},
        {"model": f"models/{GEMINI_EMBED}", "content": {"parts": [{"text": "beta"}]}, "outputDimensionality": 4},
    ]}
    vectors = [d["embedding"] for d in body["data"]]
    if encoding != "float":  # the openai SDK asks for base64 unless told otherwise, and decodes it itself
        vectors = [list(struct.unpack("<4f", base64.b64decode(v))) for v in vectors]
    assert vectors[1] == pytest.approx(embedding_vector("beta", 4))
    if encoding is None:
        assert raw.parse().data[0].embedding == pytest.approx(embedding_vector("alpha", 4))


@pytest.mark.parametrize("col", cells("safety block", OPENAI_TO_GEMINI))
def test_safety_block(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    fake.control.script({"status": 200, "error_body": blocked})
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(model=MODEL, messages=HI)
    error = error_of(info.value)
    assert error["code"] == "content_filter" and "blocked the prompt (SAFETY)" in error["message"]
