"""Every fake wire matches the official types of the real API, read raw over HTTP.

No SDK sits between the fake and the checks (an SDK tolerates missing fields): the bodies and each
stream event are validated as they come off the socket, OpenAI against its OpenAPI spec
(``tests/spec``), Anthropic against the ``anthropic`` SDK's pydantic types in strict mode with no
unknown fields, Gemini against ``google.genai.types`` (which forbid unknown fields).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import anthropic.types as at
import pydantic
import pytest
from google.genai import types as gt

from bifrost.testing.fake_provider import FakeProvider
from openapi_schema import validate_openai
from resilience.helpers import sse_frames as frames

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CLAUDE = "claude-3-5-sonnet-20241022"
GEMINI = "gemini-2.0-flash"
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-1", "anthropic-version": "2023-06-01"}
TOOLS_SCRIPT = {
    "reply": "Let me look.",
    "thinking": "The user wants the weather.",
    "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {}}],
}
STREAM_EVENT = pydantic.TypeAdapter(at.RawMessageStreamEvent)
ERROR_STATUSES = (400, 401, 403, 404, 429, 500, 503, 529)


def call(
    fake: FakeProvider,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    script: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    all_headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-test", **(headers or {})}
    if script is not None:
        all_headers["x-fake-script"] = json.dumps(script)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.url + path, data=data, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def no_extra(model: pydantic.BaseModel, where: str = "$") -> None:
    """Fail on fields the SDK type does not declare (Anthropic's models allow extras silently)."""
    assert not model.model_extra, f"{where}: undeclared fields {sorted(model.model_extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, pydantic.BaseModel):
                no_extra(item, f"{where}.{name}" + (f"[{i}]" if isinstance(value, list) else ""))


# --- OpenAI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [None, {"reply": "Hi there."}, TOOLS_SCRIPT], ids=["default", "text", "tools"])
def test_openai_chat_completion(fake: FakeProvider, script: dict[str, Any] | None) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    status, headers, raw = call(fake, "/v1/chat/completions", body, script=script)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = json.loads(raw)
    validate_openai("CreateChatCompletionResponse", data)
    if script is TOOLS_SCRIPT:
        assert [c["function"]["name"] for c in data["choices"][0]["message"]["tool_calls"]] == ["get_weather", "now"]
        assert data["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("script", [None, TOOLS_SCRIPT], ids=["text", "tools"])
@pytest.mark.parametrize("include_usage", [False, True])
def test_openai_chat_stream_chunks(fake: FakeProvider, script: dict[str, Any] | None, include_usage: bool) -> None:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    status, headers, raw = call(fake, "/v1/chat/completions", body, script=script)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = frames(raw)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    assert len({c["id"] for c in chunks}) == 1
    if include_usage:
        assert all("usage" in c for c in chunks)
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)
    if script is TOOLS_SCRIPT:
        deltas = [d for c in chunks for ch in c["choices"] for d in ch["delta"].get("tool_calls", [])]
        heads = [d for d in deltas if "id" in d]
        assert [(d["index"], d["type"], d["function"]["name"]) for d in heads] == [
            (0, "function", "get_weather"),
            (1, "function", "now"),
        ]
        args = "".join(d["function"]["arguments"] for d in deltas if d["index"] == 0)
        assert json.loads(args) == {"city": "Paris"}


@pytest.mark.parametrize("stream", [False, True])
def test_openai_text_completion(fake: FakeProvider, stream: bool) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": stream}
    status, _, raw = call(fake, "/v1/completions", body)
    assert status == 200
    if not stream:
        validate_openai("CreateCompletionResponse", json.loads(raw))
        return
    events = frames(raw)
    assert events[-1] == (None, "[DONE]")
    for _, data in events[:-1]:
        chunk = json.loads(data)
        # The spec reuses the non-stream schema for chunks; the real API sends finish_reason null until the end.
        for choice in chunk["choices"]:
            if choice["finish_reason"] is None:
                choice["finish_reason"] = "stop"
        validate_openai("CreateCompletionResponse", chunk)


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_openai_embeddings(fake: FakeProvider, encoding: str) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": encoding}
    status, _, raw = call(fake, "/v1/embeddings", body)
    assert status == 200
    data = json.loads(raw)
    if encoding == "float":
        validate_openai("CreateEmbeddingResponse", data)
    else:  # the spec types `embedding` as numbers only; a base64 answer carries a string there
        assert all(isinstance(item["embedding"], str) for item in data["data"])
        validate_openai("CreateEmbeddingResponse", {**data, "data": [{**d, "embedding": [0.0]} for d in data["data"]]})


def test_openai_models(fake: FakeProvider) -> None:
    status, _, raw = call(fake, "/v1/models")
    assert status == 200
    validate_openai("ListModelsResponse", json.loads(raw))


@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_openai_errors(fake: FakeProvider, status: int) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    got, _, raw = call(fake, "/v1/chat/completions", body, script={"status": status})
    assert got == status
    validate_openai("ErrorResponse", json.loads(raw))


def test_openai_stream_error_event(fake: FakeProvider) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    _, _, raw = call(fake, "/v1/chat/completions", body, script={"stream_error_after": 1})
    last = json.loads(frames(raw)[-1][1])
    validate_openai("ErrorResponse", last)


# --- Anthropic ------------------------------------------------------------------------------------


def _anthropic_body(stream: bool = False) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}


@pytest.mark.parametrize("script", [None, TOOLS_SCRIPT, {"usage": {"prompt_tokens": 50, "cached_tokens": 20}}])
def test_anthropic_message(fake: FakeProvider, script: dict[str, Any] | None) -> None:
    status, _, raw = call(fake, "/v1/messages", _anthropic_body(), ANTHROPIC_HEADERS, script)
    assert status == 200
    message = at.Message.model_validate(json.loads(raw), strict=True)
    no_extra(message)
    if script is TOOLS_SCRIPT:
        assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
        assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("script", [None, TOOLS_SCRIPT, {"usage": {"prompt_tokens": 50, "cached_tokens": 20}}])
def test_anthropic_stream_events(fake: FakeProvider, script: dict[str, Any] | None) -> None:
    status, headers, raw = call(fake, "/v1/messages", _anthropic_body(True), ANTHROPIC_HEADERS, script)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = []
    for name, data in frames(raw):
        if name == "ping":  # sent by the real API too; the SDK skips it, so no type covers it
            assert json.loads(data) == {"type": "ping"}
            continue
        event = STREAM_EVENT.validate_python(json.loads(data), strict=True)
        no_extra(event)
        assert name == event.type  # the SSE event name repeats the data's type
        events.append(event)
    start, delta = events[0], events[-2]
    assert isinstance(start, at.RawMessageStartEvent) and isinstance(events[-1], at.RawMessageStopEvent)
    assert isinstance(delta, at.RawMessageDeltaEvent)
    # The real API repeats the cumulative input counts in the final message_delta (LangChain reads them there).
    assert delta.usage.input_tokens == start.message.usage.input_tokens
    assert delta.usage.cache_read_input_tokens == start.message.usage.cache_read_input_tokens
    assert delta.usage.output_tokens >= 1
    if script and "usage" in script:
        assert (delta.usage.input_tokens, delta.usage.cache_read_input_tokens) == (30, 20)


def test_anthropic_count_tokens(fake: FakeProvider) -> None:
    body = {"model": CLAUDE, "messages": [{"role": "user", "content": "Hello there"}]}
    status, _, raw = call(fake, "/v1/messages/count_tokens", body, ANTHROPIC_HEADERS)
    assert status == 200
    no_extra(at.MessageTokensCount.model_validate(json.loads(raw), strict=True))


def test_anthropic_models(fake: FakeProvider) -> None:
    status, _, raw = call(fake, "/v1/models", headers=ANTHROPIC_HEADERS)
    assert status == 200
    page = json.loads(raw)
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    for item in page["data"]:  # extras allowed: older SDKs in the supported range lack newer fields
        at.ModelInfo.model_validate(item)


@pytest.mark.parametrize("status", (400, 401, 403, 404, 429, 500, 529))
def test_anthropic_errors(fake: FakeProvider, status: int) -> None:
    got, _, raw = call(fake, "/v1/messages", _anthropic_body(), ANTHROPIC_HEADERS, {"status": status})
    assert got == status
    error = at.ErrorResponse.model_validate(json.loads(raw), strict=True)
    no_extra(error)
    assert error.request_id and error.request_id.startswith("req_")  # as the real API's error bodies


def test_anthropic_stream_error_event(fake: FakeProvider) -> None:
    _, _, raw = call(fake, "/v1/messages", _anthropic_body(True), ANTHROPIC_HEADERS, {"stream_error_after": 3})
    name, data = frames(raw)[-1]
    assert name == "error"
    no_extra(at.ErrorResponse.model_validate(json.loads(data), strict=True))


# --- Gemini ---------------------------------------------------------------------------------------

GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
GEMINI_HEADERS = {"x-goog-api-key": "g-key"}


def _check_gemini(data: dict[str, Any], final: bool) -> gt.GenerateContentResponse:
    # Fields the real API sends on every answer and every stream chunk.
    assert {"candidates", "usageMetadata", "modelVersion", "responseId"} <= set(data)
    response = gt.GenerateContentResponse.model_validate(data)
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count
    candidate = response.candidates[0]
    assert candidate.content is not None and candidate.content.role == "model"
    assert (candidate.finish_reason is not None) == final
    if final:
        usage = response.usage_metadata
        assert usage.total_token_count == usage.prompt_token_count + (usage.candidates_token_count or 0) + (
            usage.thoughts_token_count or 0
        )
    return response


@pytest.mark.parametrize("script", [None, TOOLS_SCRIPT], ids=["text", "tools"])
def test_gemini_generate_content(fake: FakeProvider, script: dict[str, Any] | None) -> None:
    path = f"/v1beta/models/{GEMINI}:generateContent"
    status, _, raw = call(fake, path, GEMINI_BODY, GEMINI_HEADERS, script)
    assert status == 200
    response = _check_gemini(json.loads(raw), final=True)
    if script is TOOLS_SCRIPT:
        assert [c.name for c in response.function_calls or []] == ["get_weather", "now"]


@pytest.mark.parametrize("script", [None, TOOLS_SCRIPT], ids=["text", "tools"])
@pytest.mark.parametrize("sse", [True, False], ids=["sse", "json-array"])
def test_gemini_stream_chunks(fake: FakeProvider, script: dict[str, Any] | None, sse: bool) -> None:
    path = f"/v1beta/models/{GEMINI}:streamGenerateContent" + ("?alt=sse" if sse else "")
    status, headers, raw = call(fake, path, GEMINI_BODY, GEMINI_HEADERS, script)
    assert status == 200
    if sse:
        assert headers["Content-Type"].startswith("text/event-stream")
        chunks = [json.loads(data) for _, data in frames(raw)]
    else:
        chunks = json.loads(raw)
    assert len(chunks) > 1 and len({c["responseId"] for c in chunks}) == 1
    for i, chunk in enumerate(chunks):
        _check_gemini(chunk, final=i == len(chunks) - 1)


def test_gemini_count_tokens_and_models(fake: FakeProvider) -> None:
    status, _, raw = call(fake, f"/v1beta/models/{GEMINI}:countTokens", GEMINI_BODY, GEMINI_HEADERS)
    assert status == 200
    assert gt.CountTokensResponse.model_validate(json.loads(raw)).total_tokens
    status, _, raw = call(fake, "/v1beta/models", headers=GEMINI_HEADERS)
    assert status == 200
    for item in json.loads(raw)["models"]:
        gt.Model.model_validate({k: v for k, v in item.items() if k != "supportedGenerationMethods"})


@pytest.mark.parametrize("status", (400, 401, 403, 404, 429, 500, 503))
def test_gemini_errors(fake: FakeProvider, status: int) -> None:
    path = f"/v1beta/models/{GEMINI}:generateContent"
    got, _, raw = call(fake, path, GEMINI_BODY, GEMINI_HEADERS, {"status": status})
    assert got == status
    error = json.loads(raw)["error"]
    assert set(error) == {"code", "message", "status"}
    assert error["code"] == status and isinstance(error["message"], str) and error["status"].isupper()
