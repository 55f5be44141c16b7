"""Budgets in USD from the pricing table (streams and prompt caching included) and concurrency caps."""

from __future__ import annotations

import json
import threading
import time

import anthropic
import openai
import pytest
from helpers import CHAT, VK_A, VK_B, gov_config, redis_store, sdk, usage_of, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory

# gpt-4o-mini: $0.15 / $0.60 per million input / output tokens, cached input $0.075 (pricing.json)
USAGE = {"prompt_tokens": 1_000_000, "completion_tokens": 100_000, "cached_tokens": 200_000}
COST = (800_000 * 0.15 + 200_000 * 0.075 + 100_000 * 0.6) / 1_000_000  # 0.195
SCRIPT = {"x-bf-eh-x-fake-script": json.dumps({"usage": USAGE})}
CLAUDE = "claude-3-5-haiku-20241022"  # $0.80 in, $4 out, cache read $0.08, cache write $1.00


@pytest.fixture(params=["memory", "redis"])
def state_store(request: pytest.FixtureRequest) -> dict | None:
    """Each test below runs with the memory store and with a real redis-server."""
    if request.param == "memory":
        return None
    return redis_store(request.getfixturevalue("redis").url)


def test_budget_counts_streams_and_answers_exactly_then_402_then_resets(
    start_gateway: GatewayFactory, fake: FakeProvider, state_store: dict | None
) -> None:
    budget = {"max_limit": 0.5, "reset_duration": "3s"}
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, budget=budget)], state_store=state_store))
    client = sdk(gw)
    client.chat.completions.create(**CHAT, extra_headers=SCRIPT)
    assert usage_of(gw, "team-a")["budget"]["current_usage"] == pytest.approx(COST, abs=1e-9)
    chunks = list(client.chat.completions.create(**CHAT, stream=True, extra_headers=SCRIPT))
    assert chunks
    assert usage_of(gw, "team-a")["budget"]["current_usage"] == pytest.approx(2 * COST, abs=1e-9)
    client.chat.completions.create(**CHAT, extra_headers=SCRIPT)  # 0.39 < 0.5: still admitted
    spent = usage_of(gw, "team-a")["budget"]
    assert spent["current_usage"] == pytest.approx(3 * COST, abs=1e-9)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(**CHAT)
    err = info.value
    assert err.status_code == 402 and err.code == "budget_exceeded"
    assert err.body["type"] == "budget_exceeded" and "$0.5 per 3s" in err.message
    assert len(fake.control.log()) == 3
    time.sleep(int(err.response.headers["Retry-After"]) + 0.2)
    client.chat.completions.create(**CHAT)  # a new window
    assert usage_of(gw, "team-a")["budget"]["current_usage"] < COST


def test_prompt_cache_reads_and_writes_are_priced_at_their_own_rates(
    start_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A, budget={"max_limit": 10, "reset_duration": "1d"})])
    config["providers"]["anthropic"] = {
        "keys": [{"name": "ant", "value": "sk-ant-test", "models": [CLAUDE]}],
        "network_config": {"base_url": fake.url},
    }
    gw = start_gateway(config)
    usage = {"prompt_tokens": 100_000, "completion_tokens": 10_000, "cached_tokens": 20_000,
             "cache_write_tokens": 30_000}
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=VK_A, max_retries=0,
                                 default_headers={"x-bf-eh-x-fake-script": json.dumps({"usage": usage})})
    message = client.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
    assert message.usage.cache_creation_input_tokens == 30_000
    with client.messages.stream(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as s:
        assert s.get_final_text()
    one = (50_000 * 0.8 + 20_000 * 0.08 + 30_000 * 1.0 + 10_000 * 4.0) / 1_000_000
    assert usage_of(gw, "team-a")["budget"]["current_usage"] == pytest.approx(2 * one, abs=1e-9)


def _slow_stream(fake: FakeProvider) -> dict[str, str]:
    script = {"reply": "one two three four five six", "chunk_delay_ms": 250}
    return {"x-bf-eh-x-fake-script": json.dumps(script)}


def test_streams_hold_their_slot_and_excess_gets_429(
    start_gateway: GatewayFactory, fake: FakeProvider, state_store: dict | None
) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A, max_concurrent_requests=2), vk("team-b", VK_B)],
                        client={"drop_excess_requests": True}, state_store=state_store)
    gw = start_gateway(config)
    client = sdk(gw)
    streams = [client.chat.completions.create(**CHAT, stream=True, extra_headers=_slow_stream(fake)) for _ in range(2)]
    for stream in streams:
        next(iter(stream))  # both streams are open and answering
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**CHAT)
    assert "2 requests in flight" in info.value.message and info.value.response.headers["Retry-After"] == "1"
    assert sdk(gw, VK_B).chat.completions.create(**CHAT)  # another key is not held back
    for stream in streams:
        assert list(stream)  # read to the end: the slots are released
    assert client.chat.completions.create(**CHAT).choices[0].message.content
    assert usage_of(gw, "team-a")["in_flight"] == 0


def test_excess_requests_wait_for_a_slot_without_drop_excess(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, max_concurrent_requests=1)]))
    client = sdk(gw)
    results: list[str] = []

    def stream_once() -> None:
        stream = client.chat.completions.create(**CHAT, stream=True, extra_headers=_slow_stream(fake))
        results.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    threads = [threading.Thread(target=stream_once) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == ["one two three four five six"] * 3
    assert fake.control.stats()["max_in_flight"] == 1  # one at a time, as the cap says
