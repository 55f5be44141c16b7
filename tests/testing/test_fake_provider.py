"""The fake provider speaks the real wire formats (proved with the official SDKs) and
applies scripts and faults as documented."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

import bifrost
from bifrost.testing.fake_provider import FakeControl, FakeProvider
from bifrost.testing.fake_provider.script import roll
from bifrost.testing.fake_provider.state import LOG_LIMIT

CLAUDE = "claude-3-5-sonnet-20241022"
GEMINI = "gemini-1.5-flash"
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-1", "anthropic-version": "2023-06-01"}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider.start() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeProvider) -> FakeProvider:
    server.control.reset()
    return server


@pytest.fixture
def ctl(fake: FakeProvider) -> FakeControl:
    return fake.control


def oa(fake: FakeProvider, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key=key, max_retries=0)


def ant(fake: FakeProvider) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-1", max_retries=0)


def gem(fake: FakeProvider, version: str = "v1beta") -> genai.Client:
    options = genai_types.HttpOptions(
        base_url=fake.url, api_version=version, retry_options=genai_types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="g-key", http_options=options)


def post(
    url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={**(headers or {})})
    request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def sse_frames(raw: bytes) -> list[tuple[str | None, str]]:
    frames = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        frames.append((event, "\n".join(data)))
    return frames


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}]}
MESSAGES = {"model": CLAUDE, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}


# --- OpenAI -----------------------------------------------------------------------------


def test_openai_chat_default(fake: FakeProvider) -> None:
    messages: Any = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "hi there"}]
    r = oa(fake).chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o-mini"
    assert r.choices[0].message.content == "Hello from fake gpt-4o-mini!"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].logprobs is None
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (12, 4, 16)


def test_openai_chat_stream_echo_with_usage(fake: FakeProvider) -> None:
    stream = oa(fake).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "echo: one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == ["one ", "two ", "three"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_openai_stream_raw_ends_with_done(fake: FakeProvider) -> None:
    status, headers, raw = post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = sse_frames(raw)
    assert frames[-1] == (None, "[DONE]")
    assert all("usage" not in json.loads(data) for _, data in frames[:-1])


def test_openai_tool_calls(fake: FakeProvider, ctl: FakeControl) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    ctl.script({"tool_calls": [call, {"name": "noop", "arguments": "{}", "id": "call_fixed"}]})
    r = oa(fake).chat.completions.create(**CHAT)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    tool_calls = choice.message.tool_calls or []
    first: Any = tool_calls[0]
    assert first.id.startswith("call_") and first.type == "function"
    assert first.function.name == "get_weather"
    assert json.loads(first.function.arguments) == call["arguments"]
    assert tool_calls[1].id == "call_fixed"


def test_openai_tool_call_stream_deltas(fake: FakeProvider) -> None:
    script = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    status, _, raw = post(
        fake.url + "/v1/chat/completions", {**CHAT, "stream": True}, {"x-fake-script": json.dumps(script)}
    )
    assert status == 200
    deltas = [json.loads(d)["choices"][0]["delta"] for _, d in sse_frames(raw)[:-1]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    assert len(calls) >= 3 and all("id" not in c for c in calls[1:])
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    # the SDK accumulates the same stream
    stream = oa(fake).chat.completions.create(
        **CHAT, stream=True, extra_headers={"x-fake-script": json.dumps(script)}
    )
    finish = [c.choices[0].finish_reason for c in stream if c.choices]
    assert finish[-1] == "tool_calls"


def test_openai_text_completions(fake: FakeProvider) -> None:
    client = oa(fake)
    r = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="echo: say this")
    assert r.object == "text_completion" and r.id.startswith("cmpl-")
    assert r.choices[0].text == "say this" and r.choices[0].finish_reason == "stop"
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="echo: a b",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "a b"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


def test_openai_embeddings(fake: FakeProvider) -> None:
    client = oa(fake)
    r = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"]
    )  # base64 on the wire
    assert r.object == "list" and r.model == "text-embedding-3-small"
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 8
    floats = client.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(r.data[0].embedding, rel=1e-6)
    assert r.data[0].embedding != r.data[1].embedding
    wide = client.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=32)
    assert len(wide.data[0].embedding) == 32
    _, _, raw = post(
        fake.url + "/v1/embeddings", {"model": "m", "input": "alpha", "encoding_format": "base64"}
    )
    encoded = json.loads(raw)["data"][0]["embedding"]
    assert struct.unpack("<8f", base64.b64decode(encoded)) == pytest.approx(floats.data[0].embedding)


def test_models_lists(fake: FakeProvider) -> None:
    assert "gpt-4o" in [m.id for m in oa(fake).models.list()]
    assert CLAUDE in [m.id for m in ant(fake).models.list()]
    client = gem(fake)  # keep a reference: the pager needs the client open
    assert f"models/{GEMINI}" in [m.name for m in client.models.list()]


def test_openai_scripted_error(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"status": 429, "retry_after": 7, "error_message": "slow down", "headers": {"x-extra": "1"}})
    with pytest.raises(openai.RateLimitError) as info:
        oa(fake).chat.completions.create(**CHAT)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["x-extra"] == "1"
    body = info.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] == "slow down" and body["error"]["code"] == "rate_limit_exceeded"


def test_error_body_verbatim_and_bad_requests(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"status": 418, "error_body": {"custom": True}})
    status, _, raw = post(fake.url + "/v1/chat/completions", CHAT)
    assert (status, json.loads(raw)) == (418, {"custom": True})
    status, _, raw = post(fake.url + "/v1/chat/completions", b"{nope")
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        oa(fake).chat.completions.create(model="gpt-4o", messages=[])
    status, _, raw = post(fake.url + "/v1/chat/completions", CHAT, {"x-fake-script": '{"bogus": 1}'})
    assert status == 400 and "bogus" in json.loads(raw)["error"]["message"]


def test_openai_stream_error_event(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"stream_error_after": 2, "error_message": "boom"})
    stream = oa(fake).chat.completions.create(**CHAT, stream=True)
    got = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2


# --- Anthropic --------------------------------------------------------------------------


def test_anthropic_message_default(fake: FakeProvider) -> None:
    m = ant(fake).messages.create(**MESSAGES)
    assert m.id.startswith("msg_") and m.type == "message" and m.role == "assistant"
    assert m.model == CLAUDE and m.stop_reason == "end_turn" and m.stop_sequence is None
    assert m.content[0].type == "text" and m.content[0].text == f"Hello from fake {CLAUDE}!"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (1, 4)
    assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0


def test_anthropic_thinking_tools_usage(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script(
        {
            "thinking": "let me think",
            "reply": "Checking.",
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 9, "cached_tokens": 40},
        }
    )
    m = ant(fake).messages.create(**MESSAGES)
    types = [b.type for b in m.content]
    assert types == ["thinking", "text", "tool_use"]
    block: Any = m.content[2]
    assert block.id.startswith("toolu_") and block.name == "get_weather" and block.input == {"city": "Oslo"}
    thinking: Any = m.content[0]
    assert thinking.thinking == "let me think" and thinking.signature
    assert m.stop_reason == "tool_use"
    assert (m.usage.input_tokens, m.usage.cache_read_input_tokens, m.usage.output_tokens) == (60, 40, 9)


def test_anthropic_stream_sdk_and_events(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"thinking": "hmm ok", "tool_calls": [{"name": "f", "arguments": {"a": [1, 2, 3]}}]})
    with ant(fake).messages.stream(**MESSAGES) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    tool: Any = final.content[1]
    assert tool.input == {"a": [1, 2, 3]} and final.stop_reason == "tool_use"

    status, headers, raw = post(fake.url + "/v1/messages", {**MESSAGES, "stream": True}, ANTHROPIC_HEADERS)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = sse_frames(raw)
    events = [e for e, _ in frames]
    assert all(json.loads(d)["type"] == e for e, d in frames)
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    text = "".join(json.loads(d)["delta"]["text"] for e, d in frames if e == "content_block_delta")
    assert text == f"Hello from fake {CLAUDE}!"
    delta = json.loads(frames[-2][1])
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 4


def test_anthropic_errors(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"status": 529})
    with pytest.raises(anthropic.APIStatusError) as info:
        ant(fake).messages.create(**MESSAGES)
    assert info.value.status_code == 529
    assert info.value.response.json()["error"]["type"] == "overloaded_error"
    ctl.script({"status": 401, "error_message": "invalid x-api-key"})
    with pytest.raises(anthropic.AuthenticationError):
        ant(fake).messages.create(**MESSAGES)
    status, _, raw = post(fake.url + "/v1/messages", {"model": CLAUDE, "messages": []}, ANTHROPIC_HEADERS)
    assert status == 400
    error = json.loads(raw)
    assert error.pop("request_id").startswith("req_")
    assert error == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_anthropic_stream_error_event(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"stream_error_after": 3})
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        ant(fake).messages.stream(**MESSAGES) as stream,
    ):
        stream.get_final_message()
    ctl.script({"stream_error_after": 1})
    _, _, raw = post(fake.url + "/v1/messages", {**MESSAGES, "stream": True}, ANTHROPIC_HEADERS)
    frames = sse_frames(raw)
    assert [e for e, _ in frames] == ["message_start", "error"]
    assert json.loads(frames[1][1])["error"]["type"] == "overloaded_error"


def test_anthropic_count_tokens(fake: FakeProvider) -> None:
    r = ant(fake).messages.count_tokens(model=CLAUDE, messages=[{"role": "user", "content": "x" * 80}])
    assert r.input_tokens == 20


# --- Gemini -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_gemini_generate_and_stream(fake: FakeProvider, version: str) -> None:
    client = gem(fake, version)
    r = client.models.generate_content(model=GEMINI, contents="echo: hello world")
    assert r.text == "hello world"
    assert r.candidates and r.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert r.usage_metadata is not None and r.usage_metadata.candidates_token_count == 2
    assert r.model_version == GEMINI
    chunks = list(client.models.generate_content_stream(model=GEMINI, contents="hi"))
    assert [c.text for c in chunks] == ["Hello ", "from ", "fake ", f"{GEMINI}!"]
    assert fake.control.last()["path"] == f"/{version}/models/{GEMINI}:streamGenerateContent"
    assert fake.control.last()["query"] == {"alt": "sse"}
    assert fake.control.last()["key"] == "g-key"


def test_gemini_tools_limits_and_errors(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}, {"finish_reason": "length"})
    client = gem(fake)  # keep a reference: a collected genai Client closes its transport
    r = client.models.generate_content(model=GEMINI, contents="hi")
    assert (
        r.function_calls and r.function_calls[0].name == "lookup" and r.function_calls[0].args == {"q": "x"}
    )
    r = client.models.generate_content(model=GEMINI, contents="hi")
    assert r.candidates and r.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    ctl.script({"status": 429})
    with pytest.raises(genai.errors.ClientError) as info:
        client.models.generate_content(model=GEMINI, contents="hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    url = fake.url + f"/v1beta/models/{GEMINI}:generateContent?key=qk"
    status, _, raw = post(url, {"contents": []})
    assert status == 400 and json.loads(raw)["error"]["status"] == "INVALID_ARGUMENT"
    assert ctl.last()["key"] == "qk"
    status, _, raw = post(
        fake.url + f"/v1beta/models/{GEMINI}:streamGenerateContent",
        {"contents": [{"parts": [{"text": "a"}]}]},
    )
    assert status == 200 and isinstance(json.loads(raw), list)  # no alt=sse: one JSON array


# --- scripts, control API, log, stats ---------------------------------------------------


def test_script_sources_and_order(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.default({"reply": "default"})
    ctl.rules({"reply": "rule-bad-key", "match": {"key": "sk-bad"}})
    ctl.script({"reply": "q-mini", "match": {"model": "gpt-4o-mini"}}, {"reply": "q1"}, {"reply": "q2"})

    def ask(model: str = "gpt-4o", key: str = "sk-test", **kw: Any) -> str | None:
        r = oa(fake, key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], **kw
        )
        return r.choices[0].message.content

    assert ask(extra_headers={"x-fake-script": '{"reply": "from header"}'}) == "from header"
    assert ask() == "q1"
    assert ask(key="sk-bad") == "q2"
    assert ask(key="sk-bad") == "rule-bad-key"
    assert ask(model="gpt-4o-mini") == "q-mini"
    assert ask() == "default"
    assert ask(key="sk-bad") == "rule-bad-key"
    ctl.rules()
    ctl.default(None)
    assert ask() == "Hello from fake gpt-4o!"


def test_match_path_and_reset(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"reply": "for anthropic", "match": {"path": "/v1/messages"}})
    assert oa(fake).chat.completions.create(**CHAT).choices[0].message.content == "Hello from fake gpt-4o!"
    block: Any = ant(fake).messages.create(**MESSAGES).content[0]
    assert block.text == "for anthropic"
    ctl.script({"reply": "gone"})
    ctl.rules({"status": 500})
    ctl.reset()
    assert oa(fake).chat.completions.create(**CHAT).choices[0].message.content == "Hello from fake gpt-4o!"
    assert ctl.stats()["total"] == 1 and len(ctl.log()) == 1


def test_control_rejects_bad_scripts(fake: FakeProvider) -> None:
    status, _, raw = post(fake.url + "/_fake/script", {"scripts": [{"replyy": "x"}]})
    assert status == 400 and "replyy" in json.loads(raw)["error"]
    status, _, _ = post(fake.url + "/_fake/script", {"rules": [{"match": {"modle": "x"}}]})
    assert status == 400


def test_fail_rate_and_faults(fake: FakeProvider, ctl: FakeControl) -> None:
    """``fail_rate`` applies the script's faults to that share of requests; ``faults`` picks one at random."""
    url = fake.url + "/v1/chat/completions"
    ctl.default({"reply": "fine", "status": 500, "fail_rate": 0})
    assert {post(url, CHAT)[0] for _ in range(20)} == {200}
    ctl.default({"reply": "fine", "status": 503, "fail_rate": 1})
    assert {post(url, CHAT)[0] for _ in range(20)} == {503}
    ctl.default({"reply": "fine", "fail_rate": 0.5, "faults": [{"status": 500}, {"status": 429, "retry_after": 2}]})
    answers = [post(url, CHAT) for _ in range(300)]
    statuses = [status for status, _, _ in answers]
    # binomial(300, 0.5): sigma ~8.7; 4.5 sigma ~39
    assert abs(statuses.count(200) - 150) <= 39
    assert statuses.count(500) > 30 and statuses.count(429) > 30
    assert set(statuses) == {200, 500, 429}
    assert all(json.loads(raw)["choices"][0]["message"]["content"] == "fine" for s, _, raw in answers if s == 200)
    assert all(headers.get("Retry-After") == "2" for s, headers, _ in answers if s == 429)
    # a fault may be a broken stream: the non-failing streams are whole
    ctl.default({"fail_rate": 0.5, "faults": [{"cut_after": 1}]})
    whole = 0
    for _ in range(20):
        try:
            _, _, raw = post(url, {**CHAT, "stream": True})
        except (urllib.error.URLError, ConnectionError, OSError, http.client.HTTPException):
            continue
        if raw.endswith(b"data: [DONE]\n\n"):
            whole += 1
    assert 0 < whole < 20


def test_fail_rate_validation_and_roll(fake: FakeProvider) -> None:
    for bad in ({"fail_rate": 1.5}, {"fail_rate": "x"}, {"faults": []}, {"faults": [{"statuss": 1}]},
                {"faults": [{"fail_rate": 0.1}]}):
        status, _, _ = post(fake.url + "/_fake/script", {"default": bad})
        assert status == 400, bad
    script = {"reply": "r", "status": 500, "cut_after": 1, "fail_rate": 0.2, "latency_ms": 5}
    assert roll(script, draw=0.1) == script
    assert roll(script, draw=0.5) == {"reply": "r", "fail_rate": 0.2, "latency_ms": 5}
    assert roll({"status": 500}) == {"status": 500}
    picked = roll({"reply": "r", "fail_rate": 1, "faults": [{"status": 429}]}, draw=0.0)
    assert picked["status"] == 429 and picked["reply"] == "r"


def test_log_records_requests(fake: FakeProvider, ctl: FakeControl) -> None:
    with pytest.raises(LookupError):
        ctl.last()
    post(fake.url + "/v1/messages", MESSAGES, {**ANTHROPIC_HEADERS, "X-Custom": "Yes"})
    entry = ctl.last()
    assert entry["method"] == "POST" and entry["path"] == "/v1/messages"
    assert entry["body"] == MESSAGES and entry["key"] == "sk-ant-1"
    assert entry["headers"]["x-custom"] == "Yes" and entry["headers"]["anthropic-version"] == "2023-06-01"
    assert isinstance(entry["time"], float)
    oa(fake, "sk-bearer").chat.completions.create(**CHAT)
    assert ctl.last()["key"] == "sk-bearer"
    post(
        fake.url + f"/v1beta/models/{GEMINI}:generateContent",
        {"contents": [{"parts": [{"text": "a"}]}]},
        {"x-goog-api-key": "gk"},
    )
    assert ctl.last()["key"] == "gk"
    assert ctl.log()[0]["path"] == "/v1/messages"
    assert fake.state.log.maxlen == LOG_LIMIT == 2000


# --- faults -----------------------------------------------------------------------------


def test_latency_and_chunk_delay(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"latency_ms": 200}, {"chunk_delay_ms": 50})
    start = time.perf_counter()
    oa(fake).chat.completions.create(**CHAT)
    assert time.perf_counter() - start >= 0.2
    start = time.perf_counter()
    chunks = list(oa(fake).chat.completions.create(**CHAT, stream=True))
    assert time.perf_counter() - start >= 0.05 * (len(chunks) - 1)


def test_malformed(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"malformed": True}, {"malformed": True, "malformed_after": 2})
    status, _, raw = post(fake.url + "/v1/chat/completions", CHAT)
    assert (status, raw) == (200, b"this is not json{")
    _, _, raw = post(fake.url + "/v1/chat/completions", {**CHAT, "stream": True})
    frames = sse_frames(raw)
    assert frames[2] == (None, "{not json") and frames[-1] == (None, "[DONE]")


async def test_cut_after_stream(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"cut_after": 2}, {"cut_after": 0})
    received = b""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.post(fake.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
                assert resp.status == 200
                async for data in resp.content.iter_any():
                    received += data
        assert len(sse_frames(received)) == 2
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(fake.url + "/v1/chat/completions", json=CHAT)
    assert ctl.stats()["cancelled"] == 0


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_stall_and_cancelled_stats(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.script({"stall_after": 3}, {"stall_after": 0}, {"latency_ms": 10_000})
    async with aiohttp.ClientSession() as session:
        received = b""
        with pytest.raises(asyncio.TimeoutError):
            async with session.post(fake.url + "/v1/messages", json={**MESSAGES, "stream": True}) as resp:
                async with asyncio.timeout(0.5):
                    async for data in resp.content.iter_any():
                        received += data
        assert [e for e, _ in sse_frames(received)] == ["message_start", "ping", "content_block_start"]
        for body in (MESSAGES, CHAT):
            path = "/v1/messages" if body is MESSAGES else "/v1/chat/completions"
            with pytest.raises(asyncio.TimeoutError):
                await session.post(fake.url + path, json=body, timeout=aiohttp.ClientTimeout(total=0.3))
    await _wait_for(lambda: ctl.stats()["cancelled"] == 3)
    assert ctl.stats()["in_flight"] == 0


async def test_max_in_flight(fake: FakeProvider, ctl: FakeControl) -> None:
    ctl.default({"latency_ms": 200})
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            async with session.post(fake.url + "/v1/chat/completions", json=CHAT) as resp:
                await resp.read()
                return resp.status

        assert await asyncio.gather(*(one() for _ in range(5))) == [200] * 5
    stats = ctl.stats()
    assert stats == {"total": 5, "in_flight": 0, "max_in_flight": 5, "cancelled": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_python_dash_m_entry_point() -> None:
    port = _free_port()
    src = str(Path(bifrost.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bifrost.testing.fake_provider", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _, raw = post(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT, timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert (
            status == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "Hello from fake gpt-4o!"
        )
        assert FakeControl(f"http://127.0.0.1:{port}").stats()["total"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stdout is not None and f"127.0.0.1:{port}" in proc.stdout.read().decode()
