"""200 requests at once against a limit of 50 admit exactly 50: one process, --workers 2, two instances.

The two multi-process setups share a real redis-server (started by the fixture; skipped with the reason
when the binary is absent). ``--workers N`` with the memory store must refuse to start.
"""

from __future__ import annotations

import asyncio

from helpers import VK_A, burst, gov_config, redis_store, usage_of, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory
from redisserver import RedisServer

LIMIT = {"rate_limit": {"request_max_limit": 50, "request_reset_duration": "1h"}}


def _assert_exactly_50(statuses: list[int]) -> None:
    assert len(statuses) == 200
    assert statuses.count(200) == 50, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) == 150


def test_one_process(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)]))
    statuses = asyncio.run(burst([gw.v1_url + "/chat/completions"], 200, {"x-bf-vk": VK_A}))
    assert "fail_open" not in gw.logs()  # every request met the store (none served uncounted)
    _assert_exactly_50(statuses)
    assert len(fake.control.log()) == 50
    assert usage_of(gw, "team-a")["rate_limit"]["requests"]["current_usage"] == 50


def test_workers_2_with_redis(start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)], state_store=redis_store(redis.url))
    gw = start_gateway(config, args=["--workers", "2"])
    statuses = asyncio.run(burst([gw.v1_url + "/chat/completions"], 200, {"x-bf-vk": VK_A}))
    assert "fail_open" not in gw.logs()  # every request met the store (none served uncounted)
    _assert_exactly_50(statuses)
    assert len(fake.control.log()) == 50


def test_two_instances_sharing_redis(start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)], state_store=redis_store(redis.url))
    one, two = start_gateway(config), start_gateway(config)
    urls = [one.v1_url + "/chat/completions", two.v1_url + "/chat/completions"]
    statuses = asyncio.run(burst(urls, 200, {"x-bf-vk": VK_A}))
    assert "fail_open" not in one.logs() + two.logs()
    _assert_exactly_50(statuses)
    assert len(fake.control.log()) == 50
    assert usage_of(one, "team-a")["rate_limit"]["requests"]["current_usage"] == 50
    assert usage_of(two, "team-a")["rate_limit"]["requests"]["current_usage"] == 50


def test_workers_with_the_memory_store_refuse_to_start(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway.launch(gov_config(fake.url, [vk("team-a", VK_A, **LIMIT)]), args=["--workers", "2"])
    assert gw.wait(timeout=30) == 2
    logs = gw.logs()
    assert "--workers 2 with state_store 'memory'" in logs and '"type": "redis"' in logs
