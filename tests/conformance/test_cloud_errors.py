"""Conformance cells for the cloud providers' errors: upstream 400, 429 + Retry-After, overloaded, and
streams that fail after they started (an error event in the stream, or the connection cut)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess
from openapi_schema import validate_openai

from .cloud import calls, cloud_providers, no_cloud_secrets
from .helpers import conformance_config
from .matrix import CLOUD_COLUMNS, cells, column

HI = [{"role": "user", "content": "Hi"}]
REPLY = "one two three four five six seven eight"


def config(fake_url: str) -> dict[str, Any]:
    base = conformance_config(fake_url)
    return {**base, "providers": {**base["providers"], **cloud_providers(fake_url)}}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(config(fake_server.url))


@pytest.fixture
def own_gateway(fake: FakeProvider, start_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """A gateway for one test: a 429 cools the key down, which must not leak into other tests."""
    yield start_gateway(config(fake.url))


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()
    validate_openai("ErrorResponse", body)
    no_cloud_secrets(exc.response.text)
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("col", cells("error: 400 invalid request", *CLOUD_COLUMNS))
def test_400_from_upstream(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 400, "error_message": "messages: something is off"})
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(model=column(col).model, messages=HI)
    error = error_of(info.value)
    assert "messages: something is off" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert len(calls(fake)) == 1  # a client's mistake is not retried


@pytest.mark.parametrize("col", cells("error: 400 invalid request", *CLOUD_COLUMNS))
def test_400_from_gateway(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    bad = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]
    if col.endswith("azure"):  # passed through as sent: the provider judges it
        fake.control.script({"status": 400, "error_message": "invalid arguments"})
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(model=column(col).model, messages=[*HI, *bad])
    error = error_of(info.value)
    if not col.endswith("azure"):
        assert error["param"] == "messages[1].tool_calls[0].function.arguments"
        assert calls(fake) == []


@pytest.mark.parametrize("col", cells("error: 429 rate limit + Retry-After", *CLOUD_COLUMNS))
def test_429_retry_after(own_gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 429, "retry_after": 7, "error_message": "Too many requests"})
    with pytest.raises(openai.RateLimitError) as info:
        client(own_gateway).chat.completions.create(model=column(col).model, messages=HI)
    error = error_of(info.value)
    assert info.value.response.headers["retry-after"] == "7"
    assert "Too many requests" in error["message"]
    if not col.endswith("azure"):  # Azure's own error type is passed through as it came
        assert error["type"] == "rate_limit_exceeded"


@pytest.mark.parametrize("col", cells("error: overloaded (Anthropic 529 / OpenAI 503)", *CLOUD_COLUMNS))
def test_overloaded(own_gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 503, "error_message": "Service is overloaded"})
    with pytest.raises(openai.APIStatusError) as info:
        client(own_gateway).chat.completions.create(model=column(col).model, messages=HI)
    assert info.value.status_code == 503
    assert "Service is overloaded" in error_of(info.value)["message"]


def read(gw: GatewayProcess, col: str, pieces: list[str]) -> None:
    for chunk in client(gw).chat.completions.create(model=column(col).model, messages=HI, stream=True):
        validate_openai("CreateChatCompletionStreamResponse", chunk.to_dict())
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)


@pytest.mark.parametrize("col", cells("error: mid-stream error event", *CLOUD_COLUMNS))
def test_mid_stream_error(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "stream_error_after": 4, "error_message": "Overloaded"})
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        read(gateway, col, pieces)
    assert "Overloaded" in info.value.message
    assert REPLY.startswith("".join(pieces)) and pieces  # what arrived before the error was delivered


@pytest.mark.parametrize("col", cells("error: stream broken off", *CLOUD_COLUMNS))
def test_stream_cut(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 4})
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        read(gateway, col, pieces)
    assert col.split("-")[2] in info.value.message
    assert "".join(pieces) != REPLY
