"""Timeouts and cancellation (CONTRACT §4): the request timeout bounds an upstream call (504), the idle
timeout bounds the wait between stream chunks, and a client that goes away cancels its upstream call at
once (the fake sees its connection closed) and frees its queue slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import (
    HELLO,
    REPLY,
    assert_openai_error,
    async_wait_until,
    client,
    error_body,
    extras,
    key,
    post,
    provider,
    sse_frames,
    wait_until,
)

LLAMA = "llama-3.1-8b-instant"
KEYLESS = {"base_provider_type": "openai", "is_key_less": True}
LONG_REPLY = "one two three four five six seven eight"


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    url = fake_server.url
    quick = {"default_request_timeout_in_seconds": 1, "stream_idle_timeout_in_seconds": 0.5}
    config: dict[str, Any] = {
        "providers": {
            "openai": provider(url, [key("main")], **quick),
            "groq": provider(url, [key("groq", [LLAMA])], max_retries=1, **quick),
            # a stream may take up to 3 s to start, then at most 0.5 s between chunks
            "slowstart": {
                "custom_provider_config": KEYLESS,
                **provider(url, default_request_timeout_in_seconds=3, stream_idle_timeout_in_seconds=0.5),
            },
            # long timeouts: whatever ends these calls early is the client leaving
            "patient": {
                "custom_provider_config": KEYLESS,
                **provider(url, max_retries=2),
                "concurrency_and_buffer_size": {"concurrency": 1, "buffer_size": 10},
            },
        }
    }
    yield start_module_gateway(config)


def chat_url(gw: GatewayProcess) -> str:
    return gw.openai_url + "/v1/chat/completions"


# --- timeouts ---------------------------------------------------------------------------------------


def test_request_timeout_is_a_clear_504(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 3000})
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert 0.9 <= time.monotonic() - started < 2.0
    assert info.value.status_code == 504
    assert info.value.response.headers["x-bifrost-provider"] == "openai"
    err = assert_openai_error(error_body(info.value))
    assert err["type"] == "timeout" and err["code"] == "timeout"
    assert "openai did not answer within 1s" in err["message"]
    assert "default_request_timeout_in_seconds" in err["message"]
    wait_until(lambda: fake.control.stats()["cancelled"] == 1, what="the fake seeing the call abandoned")


def test_a_timeout_is_retried(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 3000})
    resp = client(gateway).chat.completions.create(model=LLAMA, messages=HELLO)
    assert extras(resp)["retries"] == 1 and extras(resp)["provider"] == "groq"


async def test_stream_that_never_starts_is_a_504(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 3000})
    started = time.monotonic()
    status, _, raw = await post(chat_url(gateway), {"model": "gpt-4o-mini", "messages": HELLO, "stream": True})
    assert time.monotonic() - started < 2.0
    assert status == 504
    assert "openai" in assert_openai_error(raw)["message"]


async def test_stream_idle_timeout_ends_the_stream_with_an_error_event(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script({"reply": REPLY, "stall_after": 2})
    started = time.monotonic()
    status, _, raw = await post(chat_url(gateway), {"model": "gpt-4o-mini", "messages": HELLO, "stream": True})
    assert 0.4 <= time.monotonic() - started < 2.0
    assert status == 200
    frames = [data for _, data in sse_frames(raw)]
    assert len(frames) == 4 and frames[-1] == "[DONE]"
    err = assert_openai_error(frames[2].encode())
    assert "stalled" in err["message"] and "stream_idle_timeout_in_seconds" in err["message"]
    await async_wait_until(lambda: fake.control.stats()["cancelled"] == 1)


async def test_a_stream_may_take_the_request_timeout_to_start(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """Time to first chunk is bounded by the request timeout (3 s), not the idle timeout (0.5 s)."""
    fake.control.script({"reply": REPLY, "latency_ms": 1500})
    status, _, raw = await post(chat_url(gateway), {"model": "slowstart/m", "messages": HELLO, "stream": True})
    assert status == 200, raw
    assert sse_frames(raw)[-1] == (None, "[DONE]")


def test_a_slow_but_live_stream_outlasts_the_request_timeout(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """Chunks every 300 ms (idle timeout 0.5 s) for ~3 s (request timeout 1 s): the stream is whole."""
    fake.control.script({"reply": LONG_REPLY, "chunk_delay_ms": 300})
    started = time.monotonic()
    stream = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == LONG_REPLY
    assert time.monotonic() - started > 2.0


# --- the client going away ------------------------------------------------------------------------------


async def assert_slot_free(gw: GatewayProcess) -> None:
    """patient has concurrency 1: a quick request goes through at once only if no call holds the slot."""
    started = time.monotonic()
    status, _, _ = await post(chat_url(gw), {"model": "patient/next", "messages": HELLO}, timeout=5)
    assert status == 200 and time.monotonic() - started < 1.0


def test_sdk_timeout_cancels_the_upstream_call(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 10_000})
    with pytest.raises(openai.APITimeoutError):
        client(gateway, timeout=0.3).chat.completions.create(model="patient/slow", messages=HELLO)
    left = time.monotonic()
    wait_until(lambda: fake.control.stats()["cancelled"] == 1, timeout=2.0, what="upstream cancelled")
    assert time.monotonic() - left < 1.0
    assert fake.control.stats()["in_flight"] == 0
    asyncio.run(assert_slot_free(gateway))


async def test_disconnect_before_the_first_chunk_cancels_the_upstream_call(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.script({"latency_ms": 10_000})
    with pytest.raises(TimeoutError):
        await post(chat_url(gateway), {"model": "patient/slow", "messages": HELLO, "stream": True}, timeout=0.3)
    await async_wait_until(lambda: fake.control.stats()["cancelled"] == 1, timeout=1.0)
    await assert_slot_free(gateway)


async def test_disconnect_mid_stream_cancels_the_upstream_call(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": " ".join(["word"] * 40), "chunk_delay_ms": 100})
    received = b""
    async with (
        aiohttp.ClientSession() as session,
        session.post(chat_url(gateway), json={"model": "patient/streamy", "messages": HELLO, "stream": True}) as resp,
    ):
        assert resp.status == 200
        async for data in resp.content.iter_any():
            received += data
            if received.count(b"\n\n") >= 3:
                break
        resp.close()  # the client goes away mid-stream
    left = time.monotonic()
    await async_wait_until(lambda: fake.control.stats()["cancelled"] == 1, timeout=1.0, what="upstream cancelled")
    assert time.monotonic() - left < 1.0
    assert fake.control.stats()["in_flight"] == 0
    await assert_slot_free(gateway)


async def test_disconnect_during_a_retry_wait_stops_the_retries(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 503, "retry_after": 1})
    with pytest.raises(TimeoutError):
        await post(chat_url(gateway), {"model": "patient/flaky", "messages": HELLO}, timeout=0.3)
    await asyncio.sleep(1.5)
    assert fake.control.stats()["total"] == 1
    await assert_slot_free(gateway)


async def test_many_disconnects_leak_no_slot(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """20 clients give up on slow calls (one in flight, the rest queued): every upstream call that started
    is cancelled, and afterwards the slot is free. (A queued caller can get the slot in the moment between
    the previous client's disconnect and its own; its call is then cancelled in turn.)"""
    fake.control.default({"latency_ms": 5000})
    results = await asyncio.gather(
        *(post(chat_url(gateway), {"model": "patient/slow", "messages": HELLO}, timeout=0.3) for _ in range(20)),
        return_exceptions=True,
    )
    assert all(isinstance(r, TimeoutError) for r in results)
    await async_wait_until(lambda: fake.control.stats()["in_flight"] == 0, timeout=2.0)
    stats = fake.control.stats()
    # The gateway frees the slot the moment a call is cancelled; the fake (another process) may accept the next
    # call an instant before it notices the previous connection closed, so it can see two at once, never more.
    assert stats["cancelled"] == stats["total"] and stats["max_in_flight"] <= 2, stats
    fake.control.default(None)
    await assert_slot_free(gateway)
