"""Conformance cells for streamed text: the OpenAI chunk sequence, Anthropic's event sequence, and native
Anthropic streams passed through event by event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess
from openapi_schema import validate_openai

from .helpers import (
    anthropic_client,
    check_anthropic_upstream,
    check_openai_upstream,
    model_for,
    openai_chat_stream,
    openai_sse_chunks,
    raw_post,
    sse_events,
    upstream,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, CLAUDE, OPENAI_TO_ANTHROPIC, cells

REPLY = "Once upon a time, a gateway streamed every word — exactly, in order, and “unicode” too."
SCRIPT = {"reply": REPLY, "usage": {"prompt_tokens": 11, "completion_tokens": 17}}
MESSAGES = [{"role": "user", "content": "Tell me a story"}]


@pytest.mark.parametrize("col", cells("streaming text", OPENAI_TO_ANTHROPIC))
def test_streaming_text_openai_route_sdk(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script(SCRIPT)
    chunks = openai_chat_stream(
        gateway, model=model_for(col), messages=MESSAGES, stream_options={"include_usage": True}
    )
    body = check_anthropic_upstream(upstream(fake))
    assert body["stream"] is True
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("msg_")
    assert {c.model for c in chunks} == {CLAUDE}
    assert len({c.created for c in chunks}) == 1
    *content, finish, usage = chunks
    assert content[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in content if c.choices[0].delta.content]
    assert "".join(pieces) == REPLY
    assert len(pieces) > 3  # really streamed
    assert all(c.choices[0].finish_reason is None for c in content)
    assert finish.choices[0].finish_reason == "stop" and not finish.choices[0].delta.content
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens, usage.usage.total_tokens) == (11, 17, 28)


@pytest.mark.parametrize("col", cells("streaming text", OPENAI_TO_ANTHROPIC))
def test_streaming_text_openai_route_raw_sse(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """The bytes on the wire: ``data:`` chunks that validate against OpenAI's spec, then ``data: [DONE]``."""
    fake.control.script(SCRIPT)
    status, headers, raw = raw_post(
        gateway.openai_url + "/v1/chat/completions",
        {"model": model_for(col), "messages": MESSAGES, "stream": True},
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["x-bifrost-provider"] == "anthropic"
    chunks = openai_sse_chunks(raw)
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == REPLY
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == ["stop"]
    assert all("usage" not in c for c in chunks)  # not asked for


@pytest.mark.parametrize("col", cells("streaming text", *ANTHROPIC_ROUTE))
def test_streaming_text_anthropic_route_sdk(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script(SCRIPT)
    with anthropic_client(gateway).messages.stream(model=model_for(col), max_tokens=256, messages=MESSAGES) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    if col == ANTHROPIC_NATIVE:
        assert check_anthropic_upstream(upstream(fake), version=None)["stream"] is True
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "".join(pieces) == REPLY and len(pieces) > 3
    assert [(b.type, b.text) for b in final.content] == [("text", REPLY)]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 17)
    assert final.id.startswith("msg_")


def _event_sequence(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    events = [(name, json.loads(data)) for name, data in sse_events(raw)]
    for name, data in events:
        assert name == data["type"], f"event: {name} carries a {data['type']} payload"
    return events


@pytest.mark.parametrize("col", cells("streaming text", *ANTHROPIC_ROUTE))
def test_streaming_text_anthropic_route_raw_events(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """Anthropic's event grammar on the wire; for a native stream, the very events the provider sent."""
    request = {"model": model_for(col), "max_tokens": 256, "messages": MESSAGES, "stream": True}
    headers = {"anthropic-version": "2023-06-01"}
    fake.control.script(SCRIPT)
    status, resp_headers, raw = raw_post(gateway.url + "/anthropic/v1/messages", request, headers)
    assert status == 200 and resp_headers["content-type"].startswith("text/event-stream")
    events = _event_sequence(raw)
    names = [name for name, _ in events if name != "ping"]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names[1:-2] == ["content_block_start"] + ["content_block_delta"] * (len(names) - 5) + ["content_block_stop"]
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["stop_reason"] is None
    assert start["id"].startswith("msg_") and isinstance(start["usage"]["input_tokens"], int)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == REPLY
    if col != ANTHROPIC_NATIVE:
        return
    # pass-through: the same request straight to the provider gives the same events, byte for byte but the id
    direct_status, _, direct = raw_post(
        fake.url + "/v1/messages",
        {**request, "model": CLAUDE},
        {**headers, "x-api-key": "sk-ant-test", "x-fake-script": json.dumps(SCRIPT)},
    )
    assert direct_status == 200
    gateway_id, direct_id = start["id"], _event_sequence(direct)[0][1]["message"]["id"]
    assert raw.replace(gateway_id.encode(), b"MSG_ID") == direct.replace(direct_id.encode(), b"MSG_ID")
