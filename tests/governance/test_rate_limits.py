"""Rate limits per virtual key and per provider: requests on admission, tokens settled to real usage."""

from __future__ import annotations

import time

import openai
import pytest
from helpers import CHAT, VK_A, VK_B, gov_config, post, sdk, usage_of, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory


def _limits(requests: int = 3, window: str = "2s", **extra: object) -> dict:
    return {"rate_limit": {"request_max_limit": requests, "request_reset_duration": window, **extra}}


def test_request_limit_headers_429_and_window_reset(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **_limits(3, "2s"))]))
    client = sdk(gw)
    remaining = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(**CHAT)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        reset = raw.headers["x-ratelimit-reset-requests"]
        assert reset.endswith("s") and (reset.endswith("ms") or float(reset[:-1]) <= 2.0)
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(**CHAT)
    err = info.value
    assert err.status_code == 429 and err.code == "rate_limit_exceeded"
    assert "team-a" in err.message and "3 per 2s" in err.message
    headers = err.response.headers
    assert 1 <= int(headers["Retry-After"]) <= 2
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake.control.log()) == 3  # the refused request never reached the provider
    time.sleep(int(headers["Retry-After"]) + 0.1)  # the 2 s window ends
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-ratelimit-remaining-requests"] == "2"


def test_keys_have_their_own_windows(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **_limits(1, "1m")), vk("team-b", VK_B)]))
    sdk(gw, VK_A).chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        sdk(gw, VK_A).chat.completions.create(**CHAT)
    raw = sdk(gw, VK_B).chat.completions.with_raw_response.create(**CHAT)
    assert raw.status_code == 200 and "x-ratelimit-limit-requests" not in raw.headers  # team-b has no limit


def test_streams_carry_the_headers_too(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, **_limits(5, "1m"))]))
    with sdk(gw).chat.completions.with_streaming_response.create(**CHAT, stream=True) as resp:
        assert resp.headers["x-ratelimit-remaining-requests"] == "4"
        assert "".join(chunk.choices[0].delta.content or "" for chunk in resp.parse() if chunk.choices)


def test_tokens_are_settled_to_real_usage(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    limits = {"token_max_limit": 100, "token_reset_duration": "1m"}
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A, rate_limit=limits)]))
    client = sdk(gw)
    script = {"x-bf-eh-x-fake-script": '{"usage": {"prompt_tokens": 30, "completion_tokens": 10}}'}
    raw = client.chat.completions.with_raw_response.create(**CHAT, extra_headers=script)
    assert raw.headers["x-ratelimit-limit-tokens"] == "100"
    # on admission an estimate (request bytes / 4) is reserved; at the end the real usage replaces it
    assert usage_of(gw, "team-a")["rate_limit"]["tokens"]["current_usage"] == 40
    client.chat.completions.create(**CHAT, extra_headers=script)
    stream = client.chat.completions.create(**CHAT, stream=True, extra_headers=script)
    assert [c for c in stream]
    assert usage_of(gw, "team-a")["rate_limit"]["tokens"]["current_usage"] == 120
    with pytest.raises(openai.RateLimitError) as info:  # 120 >= 100: refused until the window ends
        client.chat.completions.create(**CHAT)
    assert "tokens limit of 100 per 1m" in info.value.message
    assert info.value.response.headers["x-ratelimit-remaining-tokens"] == "0"


def test_provider_limit_applies_to_every_caller(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    config = gov_config(
        fake.url, [vk("team-a", VK_A), vk("team-b", VK_B)],
        providers={"openai": {"rate_limit": {"request_max_limit": 2, "request_reset_duration": "1m"}}},
    )
    gw = start_gateway(config)
    sdk(gw, VK_A).chat.completions.create(**CHAT)
    sdk(gw, VK_B).chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError) as info:
        sdk(gw, VK_A).chat.completions.create(**CHAT)
    assert "provider openai" in info.value.message and "governance.providers.openai" in info.value.message
    assert int(info.value.response.headers["Retry-After"]) >= 1
    # another provider is not affected
    status, _, body = post(gw.v1_url + "/chat/completions", {**CHAT, "model": "groq/llama-3.1-8b-instant"},
                           headers={"x-bf-vk": VK_A})
    assert status == 200, body


def test_a_rate_limited_provider_falls_back(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    config = gov_config(
        fake.url, [vk("team-a", VK_A)],
        providers={"openai": {"rate_limit": {"request_max_limit": 1, "request_reset_duration": "1m"}}},
        fallbacks={"gpt-4o-mini": ["groq/llama-3.1-8b-instant"]},
    )
    gw = start_gateway(config)
    first = sdk(gw).chat.completions.with_raw_response.create(**CHAT)
    second = sdk(gw).chat.completions.with_raw_response.create(**CHAT)
    assert (first.headers["x-bifrost-provider"], second.headers["x-bifrost-provider"]) == ("openai", "groq")
