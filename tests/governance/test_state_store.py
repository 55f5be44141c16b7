"""The state store: Redis killed mid-run follows state_store.fail_open; the KV; cool-downs shared."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from helpers import CHAT, VK_A, eventually, gov_config, post, redis_store, sdk, vk

from bifrost.state import create_state_store
from bifrost.state.base import ADD, CAP, SLOT, Adjustment, Counter
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, openai_config
from redisserver import RedisServer

LIMIT = {"rate_limit": {"request_max_limit": 3, "request_reset_duration": "1h"}}


def _counted(gw) -> str | None:
    """The remaining-requests header of one request, None when it was served without counting."""
    status, headers, body = post(gw.v1_url + "/chat/completions", headers={"x-bf-vk": VK_A})
    assert status in (200, 429), body
    return headers.get("x-ratelimit-remaining-requests")


def test_redis_down_fail_open_serves_and_recovers(
    start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer
) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)], state_store=redis_store(redis.url)))
    assert [_counted(gw), _counted(gw)] == ["2", "1"]
    redis.kill()
    for _ in range(5):  # beyond the limit: served, uncounted (fail_open defaults to true)
        assert sdk(gw).chat.completions.create(**CHAT).choices[0].message.content
    assert gw.alive()
    assert "serving without limits (state_store.fail_open)" in gw.logs()
    redis.start()  # empty again: counting starts over
    assert eventually(lambda: _counted(gw) is not None)
    remaining = [_counted(gw) for _ in range(2)]
    assert remaining == ["1", "0"]
    with pytest.raises(openai.RateLimitError):
        sdk(gw).chat.completions.create(**CHAT)


def test_redis_down_fail_closed_answers_503_and_recovers(
    start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer
) -> None:
    store = redis_store(redis.url, fail_open=False)
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)], state_store=store))
    assert _counted(gw) == "2"
    redis.kill()
    status, headers, body = post(gw.v1_url + "/chat/completions", headers={"x-bf-vk": VK_A})
    assert status == 503 and body["error"]["code"] == "state_store_unavailable"
    assert headers["Retry-After"] == "1"
    assert len(fake.control.log()) == 1
    redis.start()
    assert eventually(lambda: post(gw.v1_url + "/chat/completions", headers={"x-bf-vk": VK_A})[0] == 200)


def test_key_cool_downs_are_shared_by_instances(
    start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer
) -> None:
    config = openai_config(fake.url, state_store=redis_store(redis.url))
    config["providers"]["openai"]["keys"] = [{"name": "main", "value": "sk-test-main", "models": ["gpt-4o-mini"]},
                                            {"name": "spare", "value": "sk-test-spare", "models": ["gpt-4o-mini"]}]
    one, two = start_gateway(config), start_gateway(config)
    fake.control.rules({"match": {"key": "sk-test-main"}, "status": 429, "retry_after": 30})
    # instance one meets the 429 on key main (max_retries 0: the error comes back, the key cools down)
    for _ in range(10):
        status, _, _ = post(one.v1_url + "/chat/completions")
        if status == 429:
            break
    assert status == 429
    fake.control.reset()
    # instance two never met the 429, yet leaves main alone for its cool-down
    eventually(lambda: False, timeout=0.5)
    for _ in range(10):
        assert post(two.v1_url + "/chat/completions")[0] == 200
    assert {r["key"] for r in fake.control.log()} == {"sk-test-spare"}


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest):
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis")
        return create_state_store("redis", server.url)
    return create_state_store("memory")


def test_store_semantics_are_the_same_on_both_backends(store) -> None:
    async def go() -> None:
        await store.start()
        try:
            req = Counter("t:req", ADD, 2, 1, window_ms=60_000)
            assert [(await store.admit([req])).ok for _ in range(3)] == [True, True, False]
            tok = Counter("t:tok", CAP, 10, 8, window_ms=60_000)
            assert (await store.admit([tok])).used == [8]
            await store.settle([Adjustment("t:tok", 4 - 8, 60_000)])
            assert (await store.read(["t:tok"]))[0][0] == 4
            slot = [Counter("t:slots", SLOT, 1, member="a")]
            assert (await store.admit(slot)).ok
            assert not (await store.admit([Counter("t:slots", SLOT, 1, member="b")])).ok
            await store.release("t:slots", "a")
            assert (await store.admit([Counter("t:slots", SLOT, 1, member="b")])).ok
            await store.settle([Adjustment("t:tok", 1, 60_000)], release=("t:slots", "b"))  # one round trip
            assert (await store.read(["t:tok", "t:slots"]))[0][0] == 5
            assert (await store.admit([Counter("t:slots", SLOT, 1, member="c")])).ok
            await store.release("t:slots", "c")
            # all or nothing: a refusal charges none of the other counters
            both = [Counter("t:other", ADD, 5, 1, window_ms=60_000), Counter("t:req", ADD, 2, 1, window_ms=60_000)]
            decision = await store.admit(both)
            assert (decision.ok, decision.failed) == (False, 1)
            assert (await store.read(["t:other"]))[0][0] == 0
            short = Counter("t:short", ADD, 1, 1, window_ms=200)
            assert (await store.admit([short])).ok and not (await store.admit([short])).ok
            await asyncio.sleep(0.3)
            assert (await store.admit([short])).ok  # the window ended
            await store.set("resp_1", json.dumps({"id": "resp_1"}).encode(), ttl_s=0.2)
            assert await store.get("resp_1") == b'{"id": "resp_1"}'
            await asyncio.sleep(0.3)
            assert await store.get("resp_1") is None
            await store.set("resp_2", b"x")
            await store.delete("resp_2")
            assert await store.get("resp_2") is None
        finally:
            await store.close()

    asyncio.run(go())
