"""Reload without restart: POST /api/config/reload and SIGHUP, under load, and a bad config refused."""

from __future__ import annotations

import json
import signal
import threading

import openai
import pytest
from helpers import CHAT, VK_A, eventually, gov_config, post, redis_store, sdk, usage_of, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory
from redisserver import RedisServer

SLOW = {"x-bf-eh-x-fake-script": json.dumps({"reply": "one two three four five six", "chunk_delay_ms": 300})}


def _limit(n: int, **extra: object) -> dict:
    return vk("team-a", VK_A, rate_limit={"request_max_limit": n, "request_reset_duration": "1h"}, **extra)


def test_reload_under_load_keeps_the_stream_and_the_counters(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [_limit(100)]))
    client = sdk(gw)
    client.chat.completions.create(**CHAT)
    stream = client.chat.completions.create(**CHAT, stream=True, extra_headers=SLOW)
    first = next(iter(stream))  # the stream is in flight
    text: list[str] = []
    reader = threading.Thread(target=lambda: text.extend(c.choices[0].delta.content or "" for c in stream if c.choices))
    reader.start()

    gw.config_path.write_text(json.dumps(gov_config(fake.url, [_limit(3)])))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 200 and body["status"] == "reloaded", body

    # 2 requests were counted before the reload; the new limit of 3 leaves exactly one
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert (raw.headers["x-ratelimit-limit-requests"], raw.headers["x-ratelimit-remaining-requests"]) == ("3", "0")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT)
    reader.join(timeout=30)
    assert (first.choices[0].delta.content or "") + "".join(text) == "one two three four five six"


def test_sighup_reloads_the_rules(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A)]))
    assert sdk(gw).chat.completions.create(model="gpt-4o", messages=CHAT["messages"])
    gw.config_path.write_text(json.dumps(gov_config(fake.url, [vk("team-a", VK_A, allowed_models=["gpt-4o-mini"])])))
    gw.signal(signal.SIGHUP)

    def refused() -> bool:
        return post(gw.v1_url + "/chat/completions", {**CHAT, "model": "gpt-4o"}, {"x-bf-vk": VK_A})[0] == 403
    assert eventually(refused)
    assert gw.alive()


def test_a_bad_config_is_refused_with_each_problem_and_the_old_one_stays(
    start_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw = start_gateway(gov_config(fake.url, [_limit(2)]))
    bad = gov_config(fake.url, [vk("team-a", "not-a-virtual-key", rate_limit={"request_max_limit": "ten"})])
    bad["governance"]["virtual_keys"][0]["budgett"] = {}
    gw.config_path.write_text(json.dumps(bad))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 400 and body["error"]["code"] == "invalid_config"
    paths = {p["path"]: p["message"] for p in body["problems"]}
    assert "must start with sk-bf-" in paths["governance.virtual_keys[0].value"]
    assert "expected an integer" in paths["governance.virtual_keys[0].rate_limit.request_max_limit"]
    assert "did you mean 'budget'" in paths["governance.virtual_keys[0].budgett"]
    # the running config is untouched: the old key and its limit of 2
    sdk(gw).chat.completions.create(**CHAT)
    sdk(gw).chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        sdk(gw).chat.completions.create(**CHAT)
    assert usage_of(gw, "team-a")["rate_limit"]["requests"]["max_limit"] == 2


def test_reload_through_one_worker_reaches_every_worker(
    start_gateway: GatewayFactory, fake: FakeProvider, redis: RedisServer
) -> None:
    config = gov_config(fake.url, [_limit(1000)], state_store=redis_store(redis.url))
    gw = start_gateway(config, args=["--workers", "2"])
    config["governance"]["virtual_keys"][0]["allowed_models"] = ["gpt-4o-mini"]
    gw.config_path.write_text(json.dumps(config))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 200 and body["workers"] == "every worker reloads", body

    def all_refuse() -> bool:  # each request on a new connection: the kernel spreads them over the workers
        return all(
            post(gw.v1_url + "/chat/completions", {**CHAT, "model": "gpt-4o"}, {"x-bf-vk": VK_A})[0] == 403
            for _ in range(12)
        )
    assert eventually(all_refuse, timeout=30)
