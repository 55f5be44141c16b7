"""Conformance cells for errors: 400, 429 + Retry-After, overloaded, and streams that fail after they started.

OpenAI-route errors must be OpenAI-shaped (``{"error": {message, type, param, code}}``, validated against the
spec); Anthropic-route errors Anthropic-shaped (``{"type": "error", "error": {type, message}}``); the status of
an upstream error is kept, and no configured key ever appears in an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess
from openapi_schema import validate_openai

from .helpers import (
    anthropic_client,
    conformance_config,
    model_for,
    no_secrets,
    openai_client,
    openai_sse_chunks,
    raw_post,
    sse_events,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, OPENAI_TO_ANTHROPIC, cells

HI = [{"role": "user", "content": "Hi"}]
REPLY = "one two three four five six seven eight nine ten"


@pytest.fixture
def own_gateway(fake: FakeProvider, start_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """A gateway for one test: a 429 cools the key down, which must not leak into other tests."""
    yield start_gateway(conformance_config(fake.url))


def openai_error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()
    validate_openai("ErrorResponse", body)
    no_secrets(exc.response.text)
    return body["error"]  # type: ignore[no-any-return]


def anthropic_error_body(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()
    assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}, body
    no_secrets(exc.response.text)
    return body["error"]  # type: ignore[no-any-return]


def provider_of(col: str) -> str:
    return "openai" if col == "anthropic-to-openai" else "anthropic"


def read_text_stream(gateway: GatewayProcess, col: str, pieces: list[str]) -> None:
    """Stream with the anthropic SDK's helper, collecting text into `pieces` until the stream ends or raises."""
    with anthropic_client(gateway).messages.stream(model=model_for(col), max_tokens=64, messages=HI) as stream:
        pieces.extend(stream.text_stream)


def upstream_count(fake: FakeProvider) -> int:
    return len([r for r in fake.control.log() if r["path"].startswith("/v1/")])


# --- 400 invalid request ----------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: 400 invalid request", OPENAI_TO_ANTHROPIC))
def test_400_from_upstream_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    message = "messages.0.content.0.text: text content blocks must be non-empty"
    fake.control.script({"status": 400, "error_type": "invalid_request_error", "error_message": message})
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(model=model_for(col), messages=HI)
    assert info.value.status_code == 400
    error = openai_error_body(info.value)
    assert error["type"] == "invalid_request_error" and error["message"] == message
    assert info.value.response.headers["x-bifrost-provider"] == "anthropic"


@pytest.mark.parametrize("col", cells("error: 400 invalid request", OPENAI_TO_ANTHROPIC))
def test_400_untranslatable_request_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(
            model=model_for(col), messages=[{"role": "user", "content": [audio]}]
        )
    error = openai_error_body(info.value)
    assert error["type"] == "invalid_request_error"
    assert "input_audio" in error["message"] and error["param"] == "messages[0].content[0]"
    assert upstream_count(fake) == 0  # rejected before any upstream call


@pytest.mark.parametrize("col", cells("error: 400 invalid request", *ANTHROPIC_ROUTE))
def test_400_from_upstream_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    message = "Invalid value for 'temperature': must be at most 1" if col != ANTHROPIC_NATIVE else "bad temperature"
    fake.control.script({"status": 400, "error_type": "invalid_request_error", "error_message": message})
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gateway).messages.create(model=model_for(col), max_tokens=64, messages=HI)
    assert info.value.status_code == 400
    error = anthropic_error_body(info.value)
    assert error == {"type": "invalid_request_error", "message": message}
    assert info.value.response.headers["x-bifrost-provider"] == provider_of(col)


@pytest.mark.parametrize("col", cells("error: 400 invalid request", *ANTHROPIC_ROUTE))
def test_400_invalid_request_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """A request Anthropic would refuse (no max_tokens) is refused in Anthropic's shape, whoever the provider:
    natively by the upstream (the gateway passes what it need not understand), translated by the gateway."""
    status, _, raw = raw_post(
        gateway.url + "/anthropic/v1/messages",
        {"model": model_for(col), "messages": HI},
        {"anthropic-version": "2023-06-01"},
    )
    assert status == 400
    body = json.loads(raw)
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    assert upstream_count(fake) == (1 if col == ANTHROPIC_NATIVE else 0)


# --- 429 rate limit + Retry-After -------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: 429 rate limit + Retry-After", OPENAI_TO_ANTHROPIC))
def test_429_openai_route(own_gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    message = "Number of request tokens has exceeded your per-minute rate limit"
    fake.control.script({"status": 429, "retry_after": 7, "error_type": "rate_limit_error", "error_message": message})
    with pytest.raises(openai.RateLimitError) as info:
        openai_client(own_gateway).chat.completions.create(model=model_for(col), messages=HI)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    error = openai_error_body(info.value)
    assert error["message"] == message
    assert error["type"] == "rate_limit_exceeded" and error["code"] == "rate_limit_exceeded"
    assert upstream_count(fake) == 1


@pytest.mark.parametrize("col", cells("error: 429 rate limit + Retry-After", *ANTHROPIC_ROUTE))
def test_429_anthropic_route(own_gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    message = "Rate limit reached for requests"
    fake.control.script({"status": 429, "retry_after": 7, "error_message": message})
    with pytest.raises(anthropic.RateLimitError) as info:
        anthropic_client(own_gateway).messages.create(model=model_for(col), max_tokens=64, messages=HI)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert anthropic_error_body(info.value) == {"type": "rate_limit_error", "message": message}
    assert upstream_count(fake) == 1


# --- overloaded -------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: overloaded (Anthropic 529 / OpenAI 503)", OPENAI_TO_ANTHROPIC))
def test_overloaded_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 529, "error_type": "overloaded_error", "error_message": "Overloaded"})
    with pytest.raises(openai.InternalServerError) as info:
        openai_client(gateway).chat.completions.create(model=model_for(col), messages=HI)
    assert info.value.status_code == 529
    error = openai_error_body(info.value)
    assert error["message"] == "Overloaded"
    assert error["type"] == "overloaded_error" and error["code"] == "overloaded"


@pytest.mark.parametrize("col", cells("error: overloaded (Anthropic 529 / OpenAI 503)", *ANTHROPIC_ROUTE))
def test_overloaded_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    if col == ANTHROPIC_NATIVE:
        fake.control.script({"status": 529, "error_type": "overloaded_error", "error_message": "Overloaded"})
        with pytest.raises(anthropic.OverloadedError) as info:
            anthropic_client(gateway).messages.create(model=model_for(col), max_tokens=64, messages=HI)
        assert info.value.status_code == 529
        assert anthropic_error_body(info.value) == {"type": "overloaded_error", "message": "Overloaded"}
        return
    message = "The engine is currently overloaded, please try again later"
    fake.control.script({"status": 503, "error_message": message})
    with pytest.raises(anthropic.ServiceUnavailableError) as info2:
        anthropic_client(gateway).messages.create(model=model_for(col), max_tokens=64, messages=HI)
    assert info2.value.status_code == 503  # the upstream's status is kept
    assert anthropic_error_body(info2.value) == {"type": "api_error", "message": message}


# --- mid-stream error event -------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: mid-stream error event", OPENAI_TO_ANTHROPIC))
def test_mid_stream_error_openai_route_sdk(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    # message_start, ping, content_block_start, two text deltas, then Anthropic's error event
    fake.control.script(
        {"reply": REPLY, "stream_error_after": 5, "error_type": "overloaded_error", "error_message": "Overloaded"}
    )
    pieces: list[str] = []
    stream = openai_client(gateway).chat.completions.create(model=model_for(col), messages=HI, stream=True)
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            validate_openai("CreateChatCompletionStreamResponse", chunk.to_dict())
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert info.value.message == "Overloaded"
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "overloaded_error"
    assert "".join(pieces) == "one two "  # what arrived before the error is delivered


@pytest.mark.parametrize("col", cells("error: mid-stream error event", OPENAI_TO_ANTHROPIC))
def test_mid_stream_error_openai_route_raw(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script(
        {"reply": REPLY, "stream_error_after": 5, "error_type": "overloaded_error", "error_message": "Overloaded"}
    )
    status, _, raw = raw_post(
        gateway.openai_url + "/v1/chat/completions", {"model": model_for(col), "messages": HI, "stream": True}
    )
    assert status == 200
    *chunks, last = openai_sse_chunks(raw)
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk)
    validate_openai("ErrorResponse", last)
    assert last["error"]["type"] == "overloaded_error" and last["error"]["message"] == "Overloaded"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)  # no fake "stop" before the error


@pytest.mark.parametrize("col", cells("error: mid-stream error event", *ANTHROPIC_ROUTE))
def test_mid_stream_error_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    native = col == ANTHROPIC_NATIVE
    if native:  # message_start, ping, content_block_start, two deltas, error
        script = {
            "reply": REPLY,
            "stream_error_after": 5,
            "error_type": "overloaded_error",
            "error_message": "Overloaded",
        }
        expected = {"type": "overloaded_error", "message": "Overloaded"}
    else:  # role chunk, two text chunks, error
        script = {"reply": REPLY, "stream_error_after": 3, "error_type": "server_error", "error_message": "boom"}
        expected = {"type": "api_error", "message": "boom"}
    fake.control.script(script)
    pieces: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        read_text_stream(gateway, col, pieces)
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "error"
    assert info.value.body["error"] == expected
    assert "".join(pieces) == "one two "

    fake.control.script(script)
    status, _, raw = raw_post(
        gateway.url + "/anthropic/v1/messages",
        {"model": model_for(col), "max_tokens": 64, "messages": HI, "stream": True},
        {"anthropic-version": "2023-06-01"},
    )
    assert status == 200
    events = sse_events(raw)
    name, data = events[-1]
    assert name == "error" and json.loads(data) == {"type": "error", "error": expected}
    assert "message_stop" not in [n for n, _ in events]


# --- stream broken off ------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("error: stream broken off", OPENAI_TO_ANTHROPIC))
def test_stream_cut_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 5})
    pieces: list[str] = []
    stream = openai_client(gateway).chat.completions.create(model=model_for(col), messages=HI, stream=True)
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert "anthropic" in info.value.message
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "upstream_error"
    assert "".join(pieces) == "one two "


@pytest.mark.parametrize("col", cells("error: stream broken off", *ANTHROPIC_ROUTE))
def test_stream_cut_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 5 if col == ANTHROPIC_NATIVE else 3})
    pieces: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        read_text_stream(gateway, col, pieces)
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "api_error"
    assert provider_of(col) in info.value.body["error"]["message"]
    assert "".join(pieces) == "one two "
