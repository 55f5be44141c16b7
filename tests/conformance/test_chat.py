"""Conformance cells for text chat: plain chat, system prompt, multi-turn, stop sequences, max_tokens, usage,
finish reasons. Each test runs an official SDK against a gateway process and the fake provider, and asserts
what the provider received and what the client got."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess

from .helpers import (
    anthropic_client,
    anthropic_message,
    anthropic_stream,
    check_anthropic_upstream,
    check_openai_upstream,
    extras,
    model_for,
    openai_chat,
    openai_chat_stream,
    upstream,
)
from .matrix import ANTHROPIC_NATIVE, ANTHROPIC_ROUTE, CLAUDE, GPT, OPENAI_TO_ANTHROPIC, cells

HELLO = "Hello, Claude"


def anthropic_upstream_model(col: str) -> str:
    return CLAUDE if col == ANTHROPIC_NATIVE else GPT


def native_upstream_body(fake: FakeProvider, sent: dict[str, Any], sent_headers: Any) -> dict[str, Any]:
    """Anthropic route -> Anthropic: the body reached the provider exactly as the SDK sent it (model resolved)."""
    body = check_anthropic_upstream(upstream(fake), version=sent_headers["anthropic-version"])
    assert body == {**sent, "model": CLAUDE}
    return body


# --- plain chat -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [f"anthropic/{CLAUDE}", CLAUDE], ids=["provider-prefixed", "bare"])
@pytest.mark.parametrize("col", cells("plain chat", OPENAI_TO_ANTHROPIC))
def test_plain_chat_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str, model: str) -> None:
    fake.control.script({"reply": "Hi there, human.", "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    ex = openai_chat(gateway, model=model, messages=[{"role": "user", "content": HELLO}])
    body = check_anthropic_upstream(upstream(fake))
    assert body == {
        "model": CLAUDE,
        "messages": [{"role": "user", "content": [{"type": "text", "text": HELLO}]}],
        "max_tokens": 4096,
        "stream": False,
    }
    resp = ex.obj
    assert resp.object == "chat.completion"
    assert resp.id.startswith("msg_") and resp.model == CLAUDE
    assert len(resp.choices) == 1 and resp.choices[0].index == 0
    message = resp.choices[0].message
    assert message.role == "assistant" and message.content == "Hi there, human."
    assert message.tool_calls is None
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 4, 13)
    assert ex.headers["x-bifrost-provider"] == "anthropic"
    assert extras(resp)["provider"] == "anthropic" and extras(resp)["model_requested"] == model


@pytest.mark.parametrize("prefixed", [True, False], ids=["provider-prefixed", "bare"])
@pytest.mark.parametrize("col", cells("plain chat", *ANTHROPIC_ROUTE))
def test_plain_chat_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str, prefixed: bool) -> None:
    fake.control.script({"reply": "Hi there, human.", "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    upstream_model = anthropic_upstream_model(col)
    model = f"{'anthropic' if col == ANTHROPIC_NATIVE else 'openai'}/{upstream_model}" if prefixed else upstream_model
    ex = anthropic_message(gateway, model=model, max_tokens=256, messages=[{"role": "user", "content": HELLO}])
    if col == ANTHROPIC_NATIVE:
        native_upstream_body(fake, ex.sent, ex.sent_headers)
    else:
        body = check_openai_upstream(upstream(fake))
        assert body == {"model": GPT, "messages": [{"role": "user", "content": HELLO}], "max_tokens": 256}
    msg = ex.obj
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.id.startswith("msg_")
    assert msg.model == upstream_model
    assert [(b.type, b.text) for b in msg.content] == [("text", "Hi there, human.")]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (9, 4)
    provider = "anthropic" if col == ANTHROPIC_NATIVE else "openai"
    assert ex.headers["x-bifrost-provider"] == provider
    assert extras(msg)["provider"] == provider and extras(msg)["model_requested"] == model


# --- system prompt ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        (
            [{"role": "system", "content": "You are terse."}, {"role": "developer", "content": "Answer in French."}],
            "You are terse.\n\nAnswer in French.",
        ),
        (
            [
                {"role": "system", "content": [{"type": "text", "text": "You are terse."}]},
                {"role": "developer", "content": "Answer in French."},
            ],
            [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}],
        ),
    ],
    ids=["strings", "parts"],
)
@pytest.mark.parametrize("col", cells("system prompt", OPENAI_TO_ANTHROPIC))
def test_system_prompt_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, system: list[dict[str, Any]], expected: Any
) -> None:
    fake.control.script({"reply": "Bonjour."})
    ex = openai_chat(gateway, model=model_for(col), messages=[*system, {"role": "user", "content": "Hi"}])
    body = check_anthropic_upstream(upstream(fake))
    assert body["system"] == expected
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert ex.obj.choices[0].message.content == "Bonjour."


@pytest.mark.parametrize(
    ("system", "joined"),
    [
        ("You are terse.", "You are terse."),
        (
            [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
            ],
            "You are terse.\n\nAnswer in French.",
        ),
    ],
    ids=["string", "blocks"],
)
@pytest.mark.parametrize("col", cells("system prompt", *ANTHROPIC_ROUTE))
def test_system_prompt_anthropic_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, system: Any, joined: str
) -> None:
    fake.control.script({"reply": "Bonjour."})
    messages = [{"role": "user", "content": "Hi"}]
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=64, system=system, messages=messages)
    if col == ANTHROPIC_NATIVE:
        assert native_upstream_body(fake, ex.sent, ex.sent_headers)["system"] == system
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["messages"] == [{"role": "system", "content": joined}, {"role": "user", "content": "Hi"}]
    assert [b.text for b in ex.obj.content] == ["Bonjour."]


# --- multi-turn -------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("multi-turn", OPENAI_TO_ANTHROPIC))
def test_multi_turn_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Your name is Ada."})
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "Please remember it."},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    ex = openai_chat(gateway, model=model_for(col), messages=messages)
    body = check_anthropic_upstream(upstream(fake))
    assert body["system"] == "Be kind."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "My name is Ada."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Nice to meet you, Ada."}]},
        {
            "role": "user",  # consecutive user messages share one turn: Anthropic wants alternation
            "content": [{"type": "text", "text": "Please remember it."}, {"type": "text", "text": "What is my name?"}],
        },
    ]
    assert ex.obj.choices[0].message.content == "Your name is Ada."


@pytest.mark.parametrize("col", cells("multi-turn", *ANTHROPIC_ROUTE))
def test_multi_turn_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Your name is Ada."})
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": [{"type": "text", "text": "Nice to meet you, Ada."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
    ]
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=64, messages=messages)
    if col == ANTHROPIC_NATIVE:
        native_upstream_body(fake, ex.sent, ex.sent_headers)
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["messages"] == [
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": "What is my name?"},
        ]
    assert [b.text for b in ex.obj.content] == ["Your name is Ada."]


# --- stop sequences ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [["###", "END"], "END"], ids=["list", "string"])
@pytest.mark.parametrize("col", cells("stop sequences", OPENAI_TO_ANTHROPIC))
def test_stop_sequences_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str, stop: Any) -> None:
    fake.control.script({"reply": "One, two", "finish_reason": "stop_sequence"})
    ex = openai_chat(gateway, model=model_for(col), messages=[{"role": "user", "content": "Count"}], stop=stop)
    body = check_anthropic_upstream(upstream(fake))
    assert body["stop_sequences"] == (stop if isinstance(stop, list) else [stop])
    assert "stop" not in body
    assert ex.obj.choices[0].finish_reason == "stop"
    assert ex.obj.choices[0].message.content == "One, two"


@pytest.mark.parametrize("col", cells("stop sequences", *ANTHROPIC_ROUTE))
def test_stop_sequences_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    native = col == ANTHROPIC_NATIVE
    fake.control.script({"reply": "One, two", "finish_reason": "stop_sequence" if native else "stop"})
    ex = anthropic_message(
        gateway,
        model=model_for(col),
        max_tokens=64,
        messages=[{"role": "user", "content": "Count"}],
        stop_sequences=["###", "END"],
    )
    if native:
        assert native_upstream_body(fake, ex.sent, ex.sent_headers)["stop_sequences"] == ["###", "END"]
        assert ex.obj.stop_reason == "stop_sequence"
    else:
        body = check_openai_upstream(upstream(fake))
        assert body["stop"] == ["###", "END"] and "stop_sequences" not in body
        assert ex.obj.stop_reason == "end_turn"  # OpenAI does not say whether a sequence matched
    assert [b.text for b in ex.obj.content] == ["One, two"]


# --- max_tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"max_tokens": 50}, 50), ({"max_completion_tokens": 60}, 60), ({}, 4096)],
    ids=["max_tokens", "max_completion_tokens", "default"],
)
@pytest.mark.parametrize("col", cells("max_tokens", OPENAI_TO_ANTHROPIC))
def test_max_tokens_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, col: str, params: dict[str, int], expected: int
) -> None:
    fake.control.script({"reply": "Short."})
    ex = openai_chat(gateway, model=model_for(col), messages=[{"role": "user", "content": "Hi"}], **params)
    body = check_anthropic_upstream(upstream(fake))
    assert body["max_tokens"] == expected
    assert "max_completion_tokens" not in body
    assert ex.obj.choices[0].message.content == "Short."


@pytest.mark.parametrize("col", cells("max_tokens", *ANTHROPIC_ROUTE))
def test_max_tokens_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Short."})
    ex = anthropic_message(gateway, model=model_for(col), max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
    if col == ANTHROPIC_NATIVE:
        assert native_upstream_body(fake, ex.sent, ex.sent_headers)["max_tokens"] == 50
    else:
        assert check_openai_upstream(upstream(fake))["max_tokens"] == 50
    assert [b.text for b in ex.obj.content] == ["Short."]


# --- usage ------------------------------------------------------------------------------------------

USAGE_SCRIPT = {
    "reply": "Cached answer.",
    "usage": {"prompt_tokens": 120, "completion_tokens": 15, "cached_tokens": 100},
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("col", cells("usage (incl. cache tokens)", OPENAI_TO_ANTHROPIC))
def test_usage_openai_route(gateway: GatewayProcess, fake: FakeProvider, col: str, stream: bool) -> None:
    fake.control.script(USAGE_SCRIPT)
    messages = [{"role": "user", "content": "Hi"}]
    if stream:
        chunks = openai_chat_stream(
            gateway, model=model_for(col), messages=messages, stream_options={"include_usage": True}
        )
        *content_chunks, last = chunks
        assert all(c.usage is None for c in content_chunks)
        assert last.choices == []
        usage = last.usage
        body = check_anthropic_upstream(upstream(fake))
        assert body["stream"] is True and "stream_options" not in body
    else:
        usage = openai_chat(gateway, model=model_for(col), messages=messages).obj.usage
    assert usage is not None
    # Anthropic counts cache reads apart from input_tokens; OpenAI's prompt_tokens includes them
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 15, 135)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 100


def test_usage_stream_without_include_usage_has_no_usage_chunk(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script(USAGE_SCRIPT)
    chunks = openai_chat_stream(
        gateway, model=model_for(OPENAI_TO_ANTHROPIC), messages=[{"role": "user", "content": "Hi"}]
    )
    assert all(c.choices and c.usage is None for c in chunks)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("col", cells("usage (incl. cache tokens)", *ANTHROPIC_ROUTE))
def test_usage_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str, stream: bool) -> None:
    fake.control.script(USAGE_SCRIPT)
    kwargs: dict[str, Any] = {
        "model": model_for(col),
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    if stream:
        _, msg = anthropic_stream(gateway, **kwargs)
        if col != ANTHROPIC_NATIVE:
            body = check_openai_upstream(upstream(fake))
            assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    else:
        msg = anthropic_message(gateway, **kwargs).obj
    usage = msg.usage
    assert (usage.input_tokens, usage.output_tokens) == (20, 15)
    assert usage.cache_read_input_tokens == 100
    assert usage.cache_creation_input_tokens in (0, None)


@pytest.mark.parametrize("col", cells("usage (incl. cache tokens)", OPENAI_TO_ANTHROPIC, ANTHROPIC_NATIVE))
def test_usage_cache_writes(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """Cache writes count as prompt tokens on OpenAI's side (and are reported apart) and pass through natively.
    The fake only scripts cache reads, so the whole Anthropic answer is scripted as a raw 200 body."""
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 50, "output_tokens": 7}
    answer = {
        "id": "msg_cache",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [{"type": "text", "text": "Cached."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    fake.control.script({"status": 200, "error_body": answer})
    if col == OPENAI_TO_ANTHROPIC:
        resp = openai_chat(gateway, model=model_for(col), messages=[{"role": "user", "content": "Hi"}]).obj
        assert resp.usage is not None
        assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (260, 7, 267)
        details = resp.usage.prompt_tokens_details
        assert details is not None and details.cached_tokens == 50
        assert details.to_dict().get("cache_write_tokens") == 200
        return
    msg = anthropic_message(gateway, model=model_for(col), max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    got = msg.obj.usage
    assert (got.input_tokens, got.cache_creation_input_tokens, got.cache_read_input_tokens) == (10, 200, 50)
    assert got.output_tokens == 7


# --- finish reasons ---------------------------------------------------------------------------------

TOOLS_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
TOOLS_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]

# feature -> (fake script, OpenAI finish_reason, Anthropic stop_reason)
FINISHES: dict[str, tuple[dict[str, Any], str, str]] = {
    "finish reason: stop": ({"reply": "All done."}, "stop", "end_turn"),
    "finish reason: length": ({"reply": "This answer was cut", "finish_reason": "length"}, "length", "max_tokens"),
    "finish reason: tool calls": (
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_finish_1"}]},
        "tool_calls",
        "tool_use",
    ),
    "finish reason: refusal": (
        {"reply": "I can't help with that.", "finish_reason": "content_filter"},
        "content_filter",
        "refusal",
    ),
}


def _finish_params(*columns: str) -> list[Any]:
    return [
        pytest.param(feature, p.values[0], marks=p.marks, id=f"{feature.split(': ')[1]}-{p.id}")
        for feature in FINISHES
        for p in cells(feature, *columns)
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("feature", "col"), _finish_params(OPENAI_TO_ANTHROPIC))
def test_finish_reason_openai_route(
    gateway: GatewayProcess, fake: FakeProvider, feature: str, col: str, stream: bool
) -> None:
    script, finish, _ = FINISHES[feature]
    fake.control.script(script)
    kwargs: dict[str, Any] = {
        "model": model_for(col),
        "messages": [{"role": "user", "content": "Go"}],
        "tools": TOOLS_OPENAI,
    }
    if stream:
        chunks = openai_chat_stream(gateway, **kwargs)
        reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert reasons == [finish]
        assert chunks[-1].choices[0].finish_reason == finish  # the last chunk, as OpenAI sends it
    else:
        assert openai_chat(gateway, **kwargs).obj.choices[0].finish_reason == finish


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("feature", "col"), _finish_params(*ANTHROPIC_ROUTE))
def test_finish_reason_anthropic_route(
    gateway: GatewayProcess, fake: FakeProvider, feature: str, col: str, stream: bool
) -> None:
    script, _, stop_reason = FINISHES[feature]
    fake.control.script(script)
    kwargs: dict[str, Any] = {
        "model": model_for(col),
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Go"}],
        "tools": TOOLS_ANTHROPIC,
    }
    if stream:
        events, msg = anthropic_stream(gateway, **kwargs)
        deltas = [e for e in events if e.type == "message_delta"]
        assert [d.delta.stop_reason for d in deltas] == [stop_reason]
    else:
        msg = anthropic_message(gateway, **kwargs).obj
    assert msg.stop_reason == stop_reason


@pytest.mark.parametrize("col", cells("plain chat", ANTHROPIC_NATIVE))
def test_plain_chat_beta_messages_native(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """``client.beta.messages`` (``?beta=true`` and ``anthropic-beta``) reaches Anthropic with the beta header."""
    fake.control.script({"reply": "Beta hello."})
    msg = anthropic_client(gateway).beta.messages.create(
        model=model_for(col),
        max_tokens=64,
        messages=[{"role": "user", "content": HELLO}],
        betas=["token-efficient-tools-2025-02-19"],
    )
    req = upstream(fake)
    check_anthropic_upstream(req, version=None)
    assert req["headers"]["anthropic-beta"] == "token-efficient-tools-2025-02-19"
    assert req["body"]["messages"] == [{"role": "user", "content": HELLO}]
    assert [b.text for b in msg.content] == ["Beta hello."]


@pytest.mark.parametrize("col", cells("plain chat", OPENAI_TO_ANTHROPIC))
def test_fields_without_equivalent_never_reach_anthropic(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Ok."})
    openai_chat(
        gateway,
        model=model_for(col),
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0.3,
        top_p=0.9,
        seed=7,
        frequency_penalty=0.5,
        logprobs=True,
        user="user-42",
        metadata={"team": "a"},
        extra_body={"brand_new_openai_param": True},
    )
    body = check_anthropic_upstream(upstream(fake))
    assert set(body) == {"model", "messages", "max_tokens", "stream", "temperature", "top_p", "metadata"}
    assert (body["temperature"], body["top_p"]) == (0.3, 0.9)
    assert body["metadata"] == {"user_id": "user-42"}


@pytest.mark.parametrize("col", cells("plain chat", *ANTHROPIC_ROUTE))
def test_fields_without_equivalent_anthropic_route(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    """Natively every field passes; translated, Anthropic-only fields are dropped and the rest mapped."""
    fake.control.script({"reply": "Ok."})
    extra = {"top_k": 5, "top_p": 0.9, "service_tier": "auto", "brand_new_anthropic_param": {"x": 1}}
    ex = anthropic_message(
        gateway,
        model=model_for(col),
        max_tokens=64,
        messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "user-42"},
        extra_body=extra,
    )
    if col == ANTHROPIC_NATIVE:
        body = native_upstream_body(fake, ex.sent, ex.sent_headers)
        assert {k: body[k] for k in extra} == extra
        return
    body = check_openai_upstream(upstream(fake))
    assert body == {
        "model": GPT,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 64,
        "top_p": 0.9,
        "user": "user-42",
    }
