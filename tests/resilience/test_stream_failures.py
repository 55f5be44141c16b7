"""Mid-stream failures (CONTRACT §4, §6): an upstream stream that breaks, stalls, sends garbage or its own
error at any point ends the client's stream with an error event in the route's format, then ``[DONE]``
where the format has one: never a silent cut, never a hang. Before the first chunk nothing has been sent,
so the client gets a plain error answer (or a retry / fallback).

The fake's OpenAI stream for REPLY is 7 events: role chunk, 4 word chunks, finish chunk, ``[DONE]``;
its Anthropic stream is 10: message_start, ping, content_block_start, 4 deltas, content_block_stop,
message_delta, message_stop. ``cut_after: k`` drops the connection after k events, ``stall_after: k``
goes silent, ``malformed_after: k`` sends a garbage event, ``stream_error_after: k`` the provider's own
error event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import HELLO, REPLY, assert_openai_error, client, key, post, provider, sse_frames

CLAUDE = "claude-3-5-sonnet-20241022"
OPENAI_EVENTS = 7
ANTHROPIC_EVENTS = 10
QUICK: dict[str, Any] = {"stream_idle_timeout_in_seconds": 0.5, "default_request_timeout_in_seconds": 5}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    url = fake_server.url
    config: dict[str, Any] = {
        "providers": {
            "openai": provider(url, [key("main")], **QUICK),  # max_retries 0: failures show as they are
            "anthropic": provider(url, [key("ant", [CLAUDE])], **QUICK),
            "retrying": {
                "custom_provider_config": {"base_provider_type": "openai", "is_key_less": True},
                **provider(url, max_retries=1, **QUICK),
            },
        }
    }
    yield start_module_gateway(config)


def fault(kind: str, at: int) -> dict[str, Any]:
    if kind == "malformed":
        return {"reply": REPLY, "malformed": True, "malformed_after": at}
    return {"reply": REPLY, f"{kind}_after": at}


async def openai_stream(gw: GatewayProcess, model: str = "gpt-4o-mini", path: str = "/v1/chat/completions",
                        **extra: Any) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    body: dict[str, Any] = {"model": model, "stream": True, **extra}
    if path.endswith("chat/completions"):
        body["messages"] = HELLO
    status, headers, raw = await post(gw.openai_url + path, body, timeout=10)
    return status, headers, raw, time.monotonic() - started


def assert_openai_stream_ends_with_error(raw: bytes, chunks: int) -> dict[str, Any]:
    """Exactly ``chunks`` upstream chunks, then one OpenAI error event, then [DONE], then nothing."""
    frames = sse_frames(raw)
    assert raw.endswith(b"\n\n")
    assert all(event is None for event, _ in frames), frames
    datas = [data for _, data in frames]
    assert len(datas) == chunks + 2, datas
    for data in datas[:chunks]:
        assert json.loads(data)["object"] == "chat.completion.chunk"
    assert datas[-1] == "[DONE]"
    return assert_openai_error(datas[-2].encode())


# --- OpenAI route ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", range(1, OPENAI_EVENTS))
@pytest.mark.parametrize("kind", ["cut", "stall", "malformed", "stream_error"])
async def test_openai_stream_fails_after_k_chunks(
    kind: str, at: int, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script(fault(kind, at))
    status, headers, raw, elapsed = await openai_stream(gateway)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    err = assert_openai_stream_ends_with_error(raw, at)
    assert elapsed < 2.0
    expected = {
        "cut": "openai stream broke",
        "stall": "openai stream stalled",
        "malformed": "could not read",
        "stream_error": "Overloaded",  # the provider's own error message, kept
    }[kind]
    assert expected in err["message"], err


async def test_openai_stream_cut_before_the_first_chunk_is_a_plain_error(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script(fault("cut", 0))
    status, headers, raw, _ = await openai_stream(gateway)
    assert status == 502 and headers["Content-Type"].startswith("application/json")
    assert "openai" in assert_openai_error(raw)["message"]


@pytest.mark.parametrize("kind", ["cut", "stall", "malformed", "stream_error"])
async def test_failure_before_the_first_chunk_is_retried(
    kind: str, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script(fault(kind, 0), {"reply": REPLY})
    status, _, raw, _ = await openai_stream(gateway, model="retrying/m")
    assert status == 200
    datas = [data for _, data in sse_frames(raw)]
    assert len(datas) == OPENAI_EVENTS and datas[-1] == "[DONE]"
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in datas[:-1]) == REPLY


async def test_a_whole_stream_has_no_error(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """A cut after the last event (after [DONE]) changes nothing. The upstream sends one event more than the
    client sees: the usage chunk the gateway asks OpenAI for (for metrics) and keeps to itself."""
    fake.control.script(fault("cut", OPENAI_EVENTS + 1))
    status, _, raw, _ = await openai_stream(gateway)
    datas = [data for _, data in sse_frames(raw)]
    assert status == 200 and len(datas) == OPENAI_EVENTS and datas[-1] == "[DONE]"
    assert b'"error"' not in raw


async def test_text_completion_stream_cut(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 2})
    status, _, raw, _ = await openai_stream(gateway, path="/v1/completions", prompt="Say it")
    datas = [data for _, data in sse_frames(raw)]
    assert status == 200 and len(datas) == 4 and datas[-1] == "[DONE]"
    assert_openai_error(datas[2].encode())


def test_openai_sdk_raises_on_the_error_event(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 3})
    stream = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "one two "
    assert "openai stream broke" in info.value.message


# --- Anthropic route ---------------------------------------------------------------------------------------


async def anthropic_stream(gw: GatewayProcess, model: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    status, _, raw = await post(
        gw.url + "/anthropic/v1/messages",
        {"model": model, "max_tokens": 64, "messages": HELLO, "stream": True},
        headers={"anthropic-version": "2023-06-01"},
        timeout=10,
    )
    return status, raw, time.monotonic() - started


def assert_anthropic_stream_ends_with_error(raw: bytes, events: int) -> dict[str, Any]:
    frames = sse_frames(raw)
    assert len(frames) == events + 1, frames
    assert all(name is not None and name != "error" for name, _ in frames[:-1]), frames
    name, data = frames[-1]
    assert name == "error"
    body = json.loads(data)
    assert body["type"] == "error"
    err = body["error"]
    assert isinstance(err["type"], str) and isinstance(err["message"], str) and err["message"]
    assert "message_stop" not in raw.decode()
    return dict(err)


@pytest.mark.parametrize("at", range(1, ANTHROPIC_EVENTS))
@pytest.mark.parametrize("kind", ["cut", "stall", "malformed"])
async def test_native_anthropic_stream_fails_after_k_events(
    kind: str, at: int, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script(fault(kind, at))
    status, raw, elapsed = await anthropic_stream(gateway, CLAUDE)
    assert status == 200 and elapsed < 2.0
    assert_anthropic_stream_ends_with_error(raw, at)


async def test_native_anthropic_stream_error_event_keeps_its_type(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": REPLY, "stream_error_after": 4, "error_type": "overloaded_error"})
    status, raw, _ = await anthropic_stream(gateway, CLAUDE)
    assert status == 200
    err = assert_anthropic_stream_ends_with_error(raw, 4)
    assert err["type"] == "overloaded_error"


@pytest.mark.parametrize("at", range(1, OPENAI_EVENTS))
async def test_translated_stream_cut_ends_with_an_anthropic_error_event(
    at: int, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    """An OpenAI-wire upstream behind the Anthropic route: the break becomes `event: error`."""
    fake.control.script(fault("cut", at))
    status, raw, _ = await anthropic_stream(gateway, "openai/gpt-4o-mini")
    assert status == 200
    frames = sse_frames(raw)
    assert frames[-1][0] == "error", frames
    assert [name for name, _ in frames].count("error") == 1
    assert "message_stop" not in raw.decode()
    assert "openai stream broke" in json.loads(frames[-1][1])["error"]["message"]


async def test_anthropic_stream_cut_before_the_first_event_is_a_plain_error(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script(fault("cut", 0))
    status, raw, _ = await anthropic_stream(gateway, CLAUDE)
    assert status == 502
    body = json.loads(raw)
    assert body["type"] == "error" and body["error"]["message"]


@pytest.mark.parametrize("model", [CLAUDE, "openai/gpt-4o-mini"], ids=["native", "translated"])
def test_anthropic_sdk_raises_on_the_error_event(model: str, gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": REPLY, "cut_after": 4})
    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="sk-client", max_retries=0, timeout=10)
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        sdk.messages.stream(model=model, max_tokens=64, messages=HELLO) as stream,
    ):
        for text in stream.text_stream:
            texts.append(text)
    assert "broke" in str(info.value)
    assert REPLY.startswith("".join(texts))
