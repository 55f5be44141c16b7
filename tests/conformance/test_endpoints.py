"""Conformance cells beyond chat: n > 1, text completions to an Anthropic model, count_tokens."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess
from openapi_schema import validate_openai

from .helpers import (
    anthropic_client,
    check_anthropic_upstream,
    model_for,
    no_secrets,
    openai_client,
    openai_sse_chunks,
    raw_post,
    text_of,
    upstream,
    validate_completion_chunk,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_TO_OPENAI, CLAUDE, OPENAI_TO_ANTHROPIC, cells

REPLY = "Roses are red, violets are blue."


# --- n > 1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("col", cells("n > 1", OPENAI_TO_ANTHROPIC))
def test_n_greater_than_one_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider, col: str, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).chat.completions.create(
            model=model_for(col), messages=[{"role": "user", "content": "Hi"}], n=2, stream=stream
        )
    body = info.value.response.json()
    validate_openai("ErrorResponse", body)
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == "n"
    assert "n" in body["error"]["message"] and "Anthropic" in body["error"]["message"]
    assert fake.control.log() == []  # never reached the provider


# --- text completions -------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_ANTHROPIC))
def test_text_completion(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "usage": {"prompt_tokens": 6, "completion_tokens": 8}})
    raw = openai_client(gateway).completions.with_raw_response.create(
        model=model_for(col), prompt="Write a poem", max_tokens=40, stop=["\n\n"], temperature=0.5
    )
    body = json.loads(raw.text)
    validate_openai("CreateCompletionResponse", body)
    sent = check_anthropic_upstream(upstream(fake))
    assert sent == {
        "model": CLAUDE,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Write a poem"}]}],
        "max_tokens": 40,
        "stop_sequences": ["\n\n"],
        "temperature": 0.5,
        "stream": False,
    }
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.model == CLAUDE
    assert [(c.index, c.text, c.finish_reason) for c in completion.choices] == [(0, REPLY, "stop")]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 8)
    assert raw.headers["x-bifrost-provider"] == "anthropic"


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_ANTHROPIC))
def test_text_completion_length(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Roses are", "finish_reason": "length"})
    completion = openai_client(gateway).completions.create(model=model_for(col), prompt="Write a poem", max_tokens=2)
    assert completion.choices[0].finish_reason == "length" and completion.choices[0].text == "Roses are"


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_ANTHROPIC))
def test_text_completion_stream(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY, "usage": {"prompt_tokens": 6, "completion_tokens": 8}})
    chunks = list(
        openai_client(gateway).completions.create(
            model=model_for(col), prompt="Write a poem", stream=True, stream_options={"include_usage": True}
        )
    )
    for chunk in chunks:
        validate_completion_chunk(chunk.to_dict())
    assert check_anthropic_upstream(upstream(fake))["stream"] is True
    *texts, usage = chunks
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in texts) == REPLY
    assert [c.choices[0].finish_reason for c in texts if c.choices[0].finish_reason] == ["stop"]
    assert texts[-1].choices[0].finish_reason == "stop"
    assert usage.choices == [] and usage.usage is not None and usage.usage.total_tokens == 14


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_ANTHROPIC))
def test_text_completion_stream_raw(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY})
    status, _, raw = raw_post(
        gateway.v1_url + "/completions", {"model": model_for(col), "prompt": "Write a poem", "stream": True}
    )
    assert status == 200
    chunks = openai_sse_chunks(raw)
    for chunk in chunks:
        validate_completion_chunk(chunk)
    assert "".join(c["choices"][0]["text"] for c in chunks) == REPLY


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", OPENAI_TO_ANTHROPIC))
def test_text_completion_several_prompts_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(gateway).completions.create(model=model_for(col), prompt=["one", "two"])
    body = info.value.response.json()
    validate_openai("ErrorResponse", body)
    assert body["error"]["param"] == "prompt"
    assert fake.control.log() == []


# --- count_tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [CLAUDE, f"anthropic/{CLAUDE}"], ids=["bare", "provider-prefixed"])
@pytest.mark.parametrize("col", cells("count_tokens", ANTHROPIC_NATIVE))
def test_count_tokens_passthrough(gateway: GatewayProcess, fake: FakeProvider, col: str, model: str) -> None:
    fake.control.script({"usage": {"prompt_tokens": 42}})
    client = anthropic_client(gateway)
    raw = client.messages.with_raw_response.count_tokens(
        model=model,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "How many tokens is this?"}]}],
        tools=[{"name": "noop", "input_schema": {"type": "object", "properties": {}}}],
    )
    result = raw.parse()
    assert result.input_tokens == 42
    req = upstream(fake)
    assert req["path"] == "/v1/messages/count_tokens"
    assert req["headers"]["x-api-key"] == "sk-ant-test"
    assert req["headers"]["anthropic-version"] == raw.http_request.headers["anthropic-version"]
    assert req["body"] == {**json.loads(raw.http_request.content), "model": CLAUDE}
    assert text_of(req["body"]["messages"][0]["content"]) == "How many tokens is this?"


def test_count_tokens_for_another_provider_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(gateway).messages.count_tokens(
            model=model_for(ANTHROPIC_TO_OPENAI), messages=[{"role": "user", "content": "Hi"}]
        )
    body = info.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "count_tokens" in body["error"]["message"]
    no_secrets(info.value.response.text)
    assert fake.control.log() == []
