"""Exact bodies and stream chunks from the gateway, validated against OpenAI's OpenAPI schemas.

The schemas do not forbid additional top-level properties, so ``extra_fields`` stays in the validated body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config
from openapi_schema import validate_openai

EMBED_MODEL = "text-embedding-3-small"
INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
TOOL_SCRIPT = {
    "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": {"tz": "Europe/Paris"}},
    ]
}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(openai_config(fake_server.url, extra_models=[EMBED_MODEL, INSTRUCT_MODEL]))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def post_json(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with http.post(url, json=body) as resp:
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, dict(resp.headers), await resp.json()


async def post_stream(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> list[str]:
    """The ``data:`` payloads of an SSE answer, checking its framing on the way."""
    async with http.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["x-bifrost-provider"]
        raw = (await resp.read()).decode()
    assert raw.endswith("data: [DONE]\n\n"), raw[-200:]
    payloads = []
    for event in raw.split("\n\n"):
        if not event.strip():
            continue
        lines = [line for line in event.split("\n") if line and not line.startswith(":")]
        assert all(line.startswith("data: ") for line in lines), event
        payloads.append("\n".join(line[6:] for line in lines))
    assert payloads[-1] == "[DONE]"
    assert "[DONE]" not in payloads[:-1]
    return payloads[:-1]


@pytest.mark.parametrize("prefix", ["/v1", "/openai", "/openai/v1"])
async def test_chat_completion_body(
    gateway: GatewayProcess, fake: FakeProvider, http: aiohttp.ClientSession, prefix: str
) -> None:
    status, _, body = await post_json(http, gateway.url + prefix + "/chat/completions", CHAT)
    assert status == 200
    validate_openai("CreateChatCompletionResponse", body)
    assert body["object"] == "chat.completion"
    assert set(body["extra_fields"]) >= {"provider", "model_requested", "latency_ms", "retries", "fallback_index"}


async def test_chat_completion_tool_calls_body(
    gateway: GatewayProcess, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    fake.control.script(TOOL_SCRIPT)
    status, _, body = await post_json(http, gateway.v1_url + "/chat/completions", CHAT)
    assert status == 200
    validate_openai("CreateChatCompletionResponse", body)
    assert [c["function"]["name"] for c in body["choices"][0]["message"]["tool_calls"]] == ["get_weather", "get_time"]


@pytest.mark.parametrize("script", [{}, {"reply": "a b c d"}, TOOL_SCRIPT], ids=["default", "text", "tools"])
@pytest.mark.parametrize("include_usage", [False, True])
async def test_chat_stream_chunks(
    gateway: GatewayProcess,
    fake: FakeProvider,
    http: aiohttp.ClientSession,
    script: dict[str, Any],
    include_usage: bool,
) -> None:
    fake.control.script(script)
    body: dict[str, Any] = {**CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    payloads = await post_stream(http, gateway.v1_url + "/chat/completions", body)
    chunks = [json.loads(p) for p in payloads]
    assert len(chunks) >= 2
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
        assert chunk["object"] == "chat.completion.chunk"
    assert len({c["id"] for c in chunks}) == 1
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    else:
        assert all(not c.get("usage") for c in chunks)


async def test_completion_body_and_chunks(
    gateway: GatewayProcess, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    body = {"model": INSTRUCT_MODEL, "prompt": "Say this is a test", "max_tokens": 7}
    status, _, answer = await post_json(http, gateway.v1_url + "/completions", body)
    assert status == 200
    validate_openai("CreateCompletionResponse", answer)
    payloads = await post_stream(
        http, gateway.v1_url + "/completions", {**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    for payload in payloads:
        chunk = json.loads(payload)
        if chunk.get("choices") == [] and "usage" in chunk:
            continue  # the usage-only chunk has no choice, which the legacy schema cannot express
        validate_openai("CreateCompletionResponse", _as_final(chunk))


def _as_final(chunk: dict[str, Any]) -> dict[str, Any]:
    """OpenAI streams legacy completions with ``finish_reason: null`` until the last chunk, which the
    schema (one shape for both) does not express: validate the other fields as the final chunk's."""
    choices = [
        {**choice, "finish_reason": "stop"} if choice.get("finish_reason") is None else choice
        for choice in chunk["choices"]
    ]
    return {**chunk, "choices": choices}


@pytest.mark.parametrize("value", ["alpha", ["alpha", "beta", "gamma"]])
async def test_embedding_body(
    gateway: GatewayProcess, fake: FakeProvider, http: aiohttp.ClientSession, value: Any
) -> None:
    status, _, body = await post_json(
        http, gateway.v1_url + "/embeddings", {"model": EMBED_MODEL, "input": value, "encoding_format": "float"}
    )
    assert status == 200
    validate_openai("CreateEmbeddingResponse", body)
    assert len(body["data"]) == (1 if isinstance(value, str) else len(value))


@pytest.mark.parametrize("prefix", ["/v1", "/openai", "/openai/v1"])
async def test_models_body(gateway: GatewayProcess, http: aiohttp.ClientSession, prefix: str) -> None:
    async with http.get(gateway.url + prefix + "/models") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body = await resp.json()
    validate_openai("ListModelsResponse", body)
    assert {m["id"] for m in body["data"]} >= {"openai/gpt-4o-mini", "groq/llama-3.1-8b-instant"}


@pytest.mark.parametrize(
    ("path", "body", "script", "status"),
    [
        ("/chat/completions", {"model": "gpt-4o-mini", "messages": []}, None, 400),
        ("/chat/completions", {"model": "nope", "messages": CHAT["messages"]}, None, 404),
        ("/chat/completions", CHAT, {"status": 500, "error_message": "boom"}, 500),
        ("/chat/completions", CHAT, {"malformed": True}, 502),
        ("/embeddings", {"model": EMBED_MODEL}, None, 400),
        ("/no/such/route", {}, None, 404),
    ],
    ids=["bad-messages", "unknown-model", "upstream-500", "upstream-garbage", "embeddings-no-input", "route"],
)
async def test_error_bodies(
    gateway: GatewayProcess,
    fake: FakeProvider,
    http: aiohttp.ClientSession,
    path: str,
    body: dict[str, Any],
    script: dict[str, Any] | None,
    status: int,
) -> None:
    if script:
        fake.control.script(script)
    got, _, answer = await post_json(http, gateway.v1_url + path, body)
    assert got == status
    validate_openai("ErrorResponse", answer)


async def test_stream_error_event_is_an_error_object(
    gateway: GatewayProcess, fake: FakeProvider, http: aiohttp.ClientSession
) -> None:
    fake.control.script({"stream_error_after": 2, "error_message": "overloaded mid-stream"})
    payloads = await post_stream(http, gateway.v1_url + "/chat/completions", {**CHAT, "stream": True})
    *chunks, last = (json.loads(p) for p in payloads)
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    validate_openai("ErrorResponse", last)
    assert "overloaded mid-stream" in last["error"]["message"]
