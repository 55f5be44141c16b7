"""Per-provider queues (CONTRACT §4): at most `concurrency` upstream calls in flight, `buffer_size` waiting;
past that a 429 when `drop_excess_requests`, else the caller waits. Measured at the fake (max_in_flight)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost.config.loader import parse_config
from bifrost.config.model import ConcurrencyConfig
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import HELLO, REPLY, assert_openai_error, key, models_seen, post, provider, sse_frames

LLAMA = "llama-3.1-8b-instant"


def queue_config(fake_url: str, concurrency: int, buffer_size: int, drop: bool) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                **provider(fake_url, [key("main")], stream_idle_timeout_in_seconds=1),
                "concurrency_and_buffer_size": {"concurrency": concurrency, "buffer_size": buffer_size},
            },
            "groq": provider(fake_url, [key("groq", [LLAMA])]),
        },
        "client": {"drop_excess_requests": drop},
    }


@pytest.fixture(scope="module")
def waiting(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """openai: 2 in flight, 4 waiting, callers past that wait too."""
    yield start_module_gateway(queue_config(fake_server.url, 2, 4, drop=False))


@pytest.fixture(scope="module")
def dropping(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """openai: 2 in flight, 2 waiting, the rest refused."""
    yield start_module_gateway(queue_config(fake_server.url, 2, 2, drop=True))


def chat_url(gw: GatewayProcess) -> str:
    return gw.openai_url + "/v1/chat/completions"


async def timed_post(url: str, body: dict[str, Any], timeout: float = 20.0) -> tuple[int, bytes, float]:
    started = time.monotonic()
    status, _, raw = await post(url, body, timeout=timeout)
    return status, raw, time.monotonic() - started


async def test_callers_wait_and_the_fake_never_sees_more_than_concurrency(
    waiting: GatewayProcess, fake: FakeProvider
) -> None:
    """10 callers, concurrency 2, each call 250 ms: 5 waves, all answered, never 3 at the fake at once."""
    fake.control.default({"latency_ms": 250})
    started = time.monotonic()
    results = await asyncio.gather(
        *(timed_post(chat_url(waiting), {"model": "gpt-4o-mini", "messages": HELLO}) for _ in range(10))
    )
    elapsed = time.monotonic() - started
    assert [status for status, _, _ in results] == [200] * 10
    stats = fake.control.stats()
    assert stats["max_in_flight"] == 2 and stats["total"] == 10
    assert elapsed >= 5 * 0.25 - 0.05


async def test_drop_excess_requests_answers_429_at_once(dropping: GatewayProcess, fake: FakeProvider) -> None:
    """8 callers at once, 2 in flight + 2 waiting: the other 4 get 429 `queue_full` fast, naming the limits."""
    fake.control.default({"latency_ms": 1000})
    results = await asyncio.gather(
        *(timed_post(chat_url(dropping), {"model": "gpt-4o-mini", "messages": HELLO}) for _ in range(8))
    )
    served = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    assert len(served) == 4 and len(refused) == 4, [r[0] for r in results]
    for _, raw, elapsed in refused:
        assert elapsed < 0.5
        err = assert_openai_error(raw)
        assert err["code"] == "queue_full"
        for needle in ("queue full", "openai", "concurrency 2", "buffer_size 2"):
            assert needle in err["message"], err["message"]
    assert fake.control.stats()["max_in_flight"] == 2
    assert fake.control.stats()["total"] == 4


async def test_queue_full_has_retry_after_and_falls_back(dropping: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.default({"latency_ms": 800})
    body = {"model": "gpt-4o-mini", "messages": HELLO}
    busy = [asyncio.create_task(post(chat_url(dropping), body)) for _ in range(4)]
    await asyncio.sleep(0.3)  # 2 in flight, 2 waiting
    status, headers, _ = await post(chat_url(dropping), body)
    assert status == 429 and headers["Retry-After"] == "1"
    status, headers, _ = await post(chat_url(dropping), {**body, "fallbacks": [f"groq/{LLAMA}"]})
    assert status == 200 and headers["x-bifrost-provider"] == "groq"
    assert [s for s, _, _ in await asyncio.gather(*busy)] == [200] * 4


async def test_a_waiting_caller_that_leaves_frees_its_place(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """concurrency 1, buffer 1, drop_excess: A runs, B waits then leaves; C takes B's place (not refused),
    D is refused while C waits; the fake never sees B."""
    gw = start_gateway(queue_config(fake.url, 1, 1, drop=True))
    fake.control.rules({"match": {"model": "a"}, "latency_ms": 1200})
    url = chat_url(gw)

    def body(name: str) -> dict[str, Any]:
        return {"model": f"openai/{name}", "messages": HELLO}

    a = asyncio.create_task(post(url, body("a")))
    while fake.control.stats()["in_flight"] < 1:
        await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await post(url, body("b"), timeout=0.3)  # B waited, then its client gave up
    await asyncio.sleep(0.1)
    c = asyncio.create_task(timed_post(url, body("c")))
    await asyncio.sleep(0.1)
    status, _, raw = await post(url, body("d"))
    assert status == 429 and assert_openai_error(raw)["code"] == "queue_full"
    assert (await a)[0] == 200
    c_status, _, _ = await c
    assert c_status == 200
    assert models_seen(fake.control.log()) == ["a", "c"]
    assert fake.control.stats()["max_in_flight"] == 1


async def test_a_stream_holds_its_slot_until_it_ends(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(queue_config(fake.url, 1, 5, drop=False))
    fake.control.rules({"match": {"model": "slow-stream"}, "reply": REPLY, "chunk_delay_ms": 100})
    url = chat_url(gw)
    stream = asyncio.create_task(
        timed_post(url, {"model": "openai/slow-stream", "messages": HELLO, "stream": True})
    )
    while fake.control.stats()["in_flight"] < 1:
        await asyncio.sleep(0.01)
    status, _, _ = await timed_post(url, {"model": "openai/next", "messages": HELLO})
    assert status == 200
    stream_status, stream_raw, _ = await stream
    assert stream_status == 200 and sse_frames(stream_raw)[-1] == (None, "[DONE]")
    log = fake.control.log()
    assert [r["body"]["model"] for r in log] == ["slow-stream", "next"]
    assert log[1]["time"] >= log[0]["time"] + 0.45  # the next call went upstream only after the stream ended
    assert fake.control.stats()["max_in_flight"] == 1


async def test_a_failed_stream_frees_its_slot(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(queue_config(fake.url, 1, 5, drop=True))
    fake.control.script({"reply": REPLY, "cut_after": 2}, {"reply": REPLY, "stall_after": 2})
    url = chat_url(gw)
    for _ in range(2):
        status, _, raw = await post(url, {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}, timeout=10)
        assert status == 200 and b'"error"' in raw
    for _ in range(3):
        status, _, _ = await post(url, {"model": "gpt-4o-mini", "messages": HELLO}, timeout=5)
        assert status == 200


def test_buffer_size_below_concurrency_is_a_config_error(tmp_path: Any, start_gateway: GatewayFactory) -> None:
    gw = start_gateway.launch(
        {"providers": {"openai": {"keys": [{"value": "sk-x"}],
                                  "concurrency_and_buffer_size": {"concurrency": 10, "buffer_size": 5}}}}
    )
    assert gw.wait(timeout=15) == 2
    logs = gw.logs()
    assert "providers.openai.concurrency_and_buffer_size.buffer_size" in logs
    assert "must be >= concurrency (10)" in logs


def test_queue_defaults() -> None:
    config = parse_config(json.dumps({"providers": {"openai": {"keys": [{"value": "sk-x"}]}}}), env={})
    assert config.providers["openai"].concurrency == ConcurrencyConfig(concurrency=1000, buffer_size=5000)
    assert config.client.drop_excess_requests is False
