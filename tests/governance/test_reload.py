"""Reload without restart: POST /api/config/reload and SIGHUP apply the whole config (providers, keys,
weights, fallbacks, governance) to new requests while requests in flight finish on the old one; counters,
budget usage and key cool-downs survive; a bad config is refused with JSON paths and the old one serves on."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from helpers import CHAT, VK_A, eventually, gov_config, post, redis_store, sdk, usage_of, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, http_get, openai_config
from redisserver import RedisServer

SLOW = {"x-bf-eh-x-fake-script": json.dumps({"reply": "one two three four five six", "chunk_delay_ms": 300})}
# a stream that outlasts a reload and a request on a loaded machine (about 5 s)
VERY_SLOW = {"x-bf-eh-x-fake-script": json.dumps({"reply": "still on the old config", "chunk_delay_ms": 1000})}


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
    start_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider, redis: RedisServer
) -> None:
    config = gov_config(fake.url, [_limit(1000)], state_store=redis_store(redis.url))
    gw = start_gateway(config, args=["--workers", "2"])
    config["governance"]["virtual_keys"][0]["allowed_models"] = ["gpt-4o-mini"]
    config["providers"]["openai"]["network_config"]["base_url"] = fake_b.url
    gw.config_path.write_text(json.dumps(config))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 200 and body["workers"] == "every worker reloads", body

    def all_reloaded() -> bool:  # each request on a new connection: the kernel spreads them over the workers
        return all(
            post(gw.v1_url + "/chat/completions", {**CHAT, "model": "gpt-4o"}, {"x-bf-vk": VK_A})[0] == 403
            for _ in range(12)
        )
    assert eventually(all_reloaded, timeout=30)
    before = len(fake.control.log())
    for _ in range(12):  # every worker sends gpt-4o-mini to fake B now
        assert post(gw.v1_url + "/chat/completions", CHAT, {"x-bf-vk": VK_A})[0] == 200
    assert len(fake.control.log()) == before
    assert len(fake_b.control.log()) == 12


# -- the whole config: providers, keys, weights, fallbacks ------------------------------------------------

@pytest.fixture(scope="module")
def fake_b_server() -> Iterator[FakeProvider]:
    with FakeProvider.start() as server:
        yield server


@pytest.fixture
def fake_b(fake_b_server: FakeProvider) -> FakeProvider:
    """A second fake provider ("B"), cleared before the test."""
    fake_b_server.control.reset()
    return fake_b_server


def _reload(gw: GatewayProcess, config: dict[str, Any]) -> dict[str, Any]:
    gw.config_path.write_text(json.dumps(config))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 200 and body["status"] == "reloaded", body
    return body


def _plain(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="unused", max_retries=0, timeout=30)


def test_a_stream_in_flight_on_a_finishes_while_new_requests_go_to_b(
    start_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A, rate_limit={"request_max_limit": 100,
                                                                   "request_reset_duration": "1h"},
                                       budget={"max_limit": 100})])
    gw = start_gateway(config, log_level="info")
    client = sdk(gw)
    client.chat.completions.create(**CHAT)
    spent = usage_of(gw, "team-a")["budget"]["current_usage"]
    assert spent > 0
    stream = client.chat.completions.create(**CHAT, stream=True, extra_headers=VERY_SLOW)
    first = next(iter(stream))  # the stream is in flight on fake A
    text: list[str] = []
    reader = threading.Thread(target=lambda: text.extend(c.choices[0].delta.content or "" for c in stream if c.choices))
    reader.start()

    config["providers"]["openai"]["network_config"]["base_url"] = fake_b.url
    config["providers"]["openai"]["keys"][0]["value"] = "sk-test-rotated-main"
    body = _reload(gw, config)
    assert body["applied"] == ["providers.openai"] and body["restart_required"] == [], body
    assert usage_of(gw, "team-a")["budget"]["current_usage"] == spent  # budget usage survived

    answer = client.chat.completions.with_raw_response.create(**CHAT, extra_headers={"x-bf-api-key": "main"})
    assert answer.parse().choices[0].message.content
    assert answer.headers["x-ratelimit-remaining-requests"] == "97"  # 3 counted: the counters survived
    assert [r["key"] for r in fake_b.control.log()] == ["sk-test-rotated-main"]  # new request: B, new key
    assert "previous config's requests have finished" not in gw.logs()  # the stream still holds fake A
    reader.join(timeout=30)
    assert (first.choices[0].delta.content or "") + "".join(text) == "still on the old config"
    assert [r["body"].get("stream") for r in fake.control.log()] == [None, True]  # A: before the reload only
    assert eventually(lambda: "previous config's requests have finished" in gw.logs())
    assert usage_of(gw, "team-a")["budget"]["current_usage"] > spent  # the stream and B's answer are added


def test_a_changed_key_weight_and_fallback_take_effect(
    start_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    config = openai_config(fake.url)
    keys = config["providers"]["openai"]["keys"]
    keys[0]["weight"], keys[1]["weight"] = 0.000001, 1000000
    gw = start_gateway(config)
    client = _plain(gw)
    fake.control.rules({"match": {"model": "gpt-4o"}, "status": 500, "error_message": "gpt-4o is down"})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"])
    for _ in range(8):
        client.chat.completions.create(**CHAT)
    assert {r["key"] for r in fake.control.log()[-8:]} == {"sk-test-spare"}

    keys[0]["weight"], keys[1]["weight"] = 1000000, 0.000001
    config["fallbacks"] = {"gpt-4o": ["groq/llama-3.1-8b-instant"]}
    body = _reload(gw, config)
    assert body["applied"] == ["providers.openai", "fallbacks"], body
    for _ in range(8):
        client.chat.completions.create(**CHAT)
    assert {r["key"] for r in fake.control.log()[-8:]} == {"sk-test-main"}
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=CHAT["messages"])
    assert raw.headers["x-bifrost-provider"] == "groq"
    last = fake.control.last()
    assert (last["key"], last["body"]["model"]) == ("gsk-test", "llama-3.1-8b-instant")


def test_key_cool_downs_survive_a_reload_of_their_provider(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    config = openai_config(fake.url, providers={"openai": {"network_config": {"max_retries": 1}}})
    gw = start_gateway(config)
    client = _plain(gw)
    fake.control.rules({"match": {"key": "sk-test-main"}, "status": 429, "retry_after": 60})
    for _ in range(30):  # until the weighted draw picked key main once: it answered 429 and rests 60s
        client.chat.completions.create(**CHAT)
        if any(r["key"] == "sk-test-main" for r in fake.control.log()):
            break
    fake.control.rules()  # main would answer now: only its cool-down keeps it out
    config["providers"]["openai"]["network_config"]["extra_headers"] = {"x-generation": "2"}
    assert _reload(gw, config)["applied"] == ["providers.openai"]
    seen = len(fake.control.log())
    for _ in range(6):
        client.chat.completions.create(**CHAT)
    new = fake.control.log()[seen:]
    assert [(r["key"], r["headers"].get("x-generation")) for r in new] == [("sk-test-spare", "2")] * 6


def test_sighup_points_a_model_at_another_provider(
    start_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = openai_config(fake.url)
    gw = start_gateway(config)
    _plain(gw).chat.completions.create(**CHAT)
    config["providers"]["openai"]["network_config"]["base_url"] = fake_b.url
    gw.config_path.write_text(json.dumps(config))
    gw.signal(signal.SIGHUP)

    def served_by_b() -> bool:
        _plain(gw).chat.completions.create(**CHAT)
        return bool(fake_b.control.log())
    assert eventually(served_by_b)
    assert len(fake.control.log()) >= 1 and gw.alive()


def test_a_bad_provider_config_is_refused_and_the_old_one_serves(
    start_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider
) -> None:
    config = openai_config(fake.url)
    gw = start_gateway(config)
    bad = json.loads(json.dumps(config))
    bad["providers"]["openai"]["network_config"]["base_url"] = fake_b.url
    bad["providers"]["openai"]["keys"][1]["weight"] = "heavy"
    bad["fallbacks"] = {"gpt-4o": ["nowhere/model"]}
    gw.config_path.write_text(json.dumps(bad))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 400 and body["error"]["code"] == "invalid_config", body
    paths = {p["path"] for p in body["problems"]}
    assert {"providers.openai.keys[1].weight", "fallbacks.gpt-4o[0]"} <= paths, paths
    assert eventually(lambda: "providers.openai.keys[1].weight" in gw.logs())  # and the log names them
    _plain(gw).chat.completions.create(**CHAT)
    assert len(fake.control.log()) == 1 and not fake_b.control.log()


def test_settings_that_need_a_restart_are_named_and_the_rest_applies(
    start_gateway: GatewayFactory, fake: FakeProvider, fake_b: FakeProvider, tmp_path: Any
) -> None:
    config = openai_config(fake.url)
    gw = start_gateway(config, log_level="info")
    config["providers"]["openai"]["network_config"]["base_url"] = fake_b.url
    config["logs_store"] = {"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "logs.db")}}
    config["client"] = {"prometheus_labels": ["team"]}
    config["auth_config"] = {"is_enabled": True, "admin_username": "admin", "admin_password": "reload-secret-pw"}
    config["client"]["max_request_body_size_mb"] = 0.01
    body = _reload(gw, config)
    assert {p["path"] for p in body["restart_required"]} == {"logs_store", "client.prometheus_labels"}, body
    assert {"--host", "--port", "--workers", "state_store"} <= set(body["restart_only"])
    assert "providers.openai" in body["applied"] and "auth_config.is_enabled" in body["applied"]
    assert eventually(lambda: "config reloaded" in gw.logs())
    line = next(x for x in gw.logs().splitlines() if "config reloaded" in x)
    assert "needs a restart: logs_store" in line and "client.prometheus_labels" in line
    assert "reload-secret-pw" not in gw.logs()
    _plain(gw).chat.completions.create(**CHAT)  # the provider change applied
    assert len(fake_b.control.log()) == 1
    assert http_get(gw.url + "/api/governance/virtual-keys")[0] == 401  # the admin credential applied
    assert not (tmp_path / "logs.db").exists()  # the log store did not change
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 20_000}]}
    with pytest.raises(openai.APIStatusError) as info:  # the new body size limit applied
        _plain(gw).chat.completions.create(**big)
    assert info.value.status_code == 413


def test_workers_with_the_memory_store_refuse_a_reload_that_would_multiply_limits(
    start_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    config = gov_config(fake.url, [vk("team-a", VK_A)])  # no counting rule: --workers 2 may use memory
    gw = start_gateway(config, args=["--workers", "2"])
    gw.config_path.write_text(json.dumps(gov_config(fake.url, [_limit(5)])))
    status, _, body = post(gw.url + "/api/config/reload", body={})
    assert status == 400 and [p["path"] for p in body["problems"]] == ["governance"], body
    assert "state_store 'redis'" in body["problems"][0]["message"]
    for _ in range(8):  # the old rules serve on: no limit of 5
        assert post(gw.v1_url + "/chat/completions", CHAT, {"x-bf-vk": VK_A})[0] == 200
