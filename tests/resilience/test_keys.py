"""Keys (CONTRACT §4): weighted choice among the keys that serve the model, pinning, cool-downs.

Every upstream request carries its key's value (``sk-<name>``); the fake logs it, so the tests count
which key served what at the fake, not from the gateway's own account.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import HELLO, async_client, client, error_body, extras, key, keys_seen, provider

LLAMA = "llama-3.1-8b-instant"


def keys_config(fake_url: str, max_retries: int = 0) -> dict[str, Any]:
    """openai: main (weight 0.7, every model) and spare (weight 0.3, gpt-4o-mini only); groq as a fallback."""
    return {
        "providers": {
            "openai": provider(
                fake_url, [key("main", weight=0.7), key("spare", ["gpt-4o-mini"], weight=0.3)],
                max_retries=max_retries,
            ),
            "groq": provider(fake_url, [key("groq", [LLAMA])]),
        }
    }


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(keys_config(fake_server.url))


async def test_weighted_distribution(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """Weights 0.7 / 0.3 over N=400 requests.

    The count of ``main`` is Binomial(400, 0.7): mean 280, sigma = sqrt(400 * 0.7 * 0.3) ~ 9.17.
    Accepted: within 4.5 sigma (~41) of the mean, i.e. 239..321; a correct picker fails this
    about once in 150,000 runs, while a uniform picker (mean 200) or one always taking the first
    key (400) is far outside it.
    """
    n, p = 400, 0.7
    sdk = async_client(gateway)
    sem = asyncio.Semaphore(16)

    async def one() -> None:
        async with sem:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)

    await asyncio.gather(*(one() for _ in range(n)))
    await sdk.close()
    counts = Counter(keys_seen(fake.control.log()))
    assert sum(counts.values()) == n and set(counts) == {"sk-main", "sk-spare"}
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(counts["sk-main"] - n * p) <= 4.5 * sigma, counts


def test_models_filter(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """spare serves only gpt-4o-mini: gpt-4o always goes with main, whatever the weights say."""
    sdk = client(gateway)
    for _ in range(40):
        resp = sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert resp.model == "gpt-4o"
    assert set(keys_seen(fake.control.log())) == {"sk-main"}


def test_pinning_by_name(gateway: GatewayProcess, fake: FakeProvider) -> None:
    for name in ("spare", "main"):
        sdk = client(gateway, default_headers={"x-bf-api-key": name})
        for _ in range(15):
            sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert set(keys_seen(fake.control.log())) == {f"sk-{name}"}
        fake.control.reset()


def test_pinning_an_unknown_key_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, extra_headers={"x-bf-api-key": "nope"}
        )
    err = error_body(info.value)["error"]
    assert "nope" in err["message"] and "main" in err["message"] and "spare" in err["message"]
    assert err["param"] == "x-bf-api-key"
    assert fake.control.stats()["total"] == 0


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_cools_down_and_the_next_try_takes_another(
    status: int, fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """A key answering 401/403 rests (>= 5 min): tried once, logged once by name, never by value."""
    gateway = start_gateway(keys_config(fake.url))  # max_retries 0: a key swap is not a retry budget matter
    fake.control.rules({"match": {"key": "sk-main"}, "status": status, "error_message": "Incorrect API key"})
    sdk = client(gateway)
    for _ in range(20):
        resp = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert resp.choices[0].message.content
        assert extras(resp)["provider"] == "openai"
    seen = keys_seen(fake.control.log())
    assert seen.count("sk-main") == 1, seen
    assert seen.count("sk-spare") == 20
    logs = gateway.logs()
    assert sum("key 'main'" in line for line in logs.splitlines()) == 1, logs
    assert "sk-main" not in logs and "sk-spare" not in logs


def test_rejected_pinned_key_is_not_retried(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """A pinned key answering 401 gives the client that 401 at once (no loop over the same key)."""
    gateway = start_gateway(keys_config(fake.url, max_retries=2))
    fake.control.rules({"match": {"key": "sk-main"}, "status": 401, "error_message": "Incorrect API key"})
    with pytest.raises(openai.AuthenticationError) as info:
        client(gateway, timeout=10).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, extra_headers={"x-bf-api-key": "main"}
        )
    assert "Incorrect API key" in error_body(info.value)["error"]["message"]
    assert keys_seen(fake.control.log()) == ["sk-main"]


def test_rate_limited_key_cools_down_and_another_goes_at_once(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """main answers 429 with Retry-After: 5. The retry takes spare without waiting those 5 s, and
    main is left alone for the rest of its cool-down."""
    gateway = start_gateway(keys_config(fake.url, max_retries=1))
    fake.control.rules({"match": {"key": "sk-main"}, "status": 429, "retry_after": 5})
    sdk = client(gateway)
    started = time.monotonic()
    for _ in range(10):
        resp = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert resp.choices[0].message.content
    assert time.monotonic() - started < 3.0
    seen = keys_seen(fake.control.log())
    assert seen.count("sk-main") <= 1 and seen.count("sk-spare") == 10, seen


def test_every_key_cooling_down_says_so_and_fallbacks_run(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """Keys cooling down for longer than the request's timeout (60 s > 30 s): the gateway refuses at once.
    (A cool-down that ends within the timeout is waited out instead: tests/security/test_overload.py.)"""
    gateway = start_gateway(keys_config(fake.url, max_retries=1))
    fake.control.rules({"match": {"path": "/v1/chat/completions", "model": "gpt-4o-mini"}, "status": 429,
                        "retry_after": 60})
    sdk = client(gateway)
    # 1: main and spare both answer 429 (in either order): the upstream's 429 comes back
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    attempts = error_body(info.value)["extra_fields"]["attempts"]
    assert sorted(a["key"] for a in attempts) == ["main", "spare"]
    assert {a["status"] for a in attempts} == {429}
    assert fake.control.stats()["total"] == 2
    # 2: both cooling down: the gateway answers itself, at once, and says why and for how long
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert time.monotonic() - started < 1.0
    body = error_body(info.value)
    assert "every key of provider openai" in body["error"]["message"]
    assert "cooling down" in body["error"]["message"]
    assert body["error"]["code"] == "all_keys_cooling_down"
    assert 30 <= int(info.value.response.headers["Retry-After"]) <= 60
    assert info.value.response.headers["x-bifrost-provider"] == "openai"
    assert fake.control.stats()["total"] == 2  # nothing sent upstream
    # 3: the same with a fallback: it serves the request
    resp = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, extra_body={"fallbacks": [f"groq/{LLAMA}"]}
    )
    assert resp.headers["x-bifrost-provider"] == "groq"
    fields = extras(resp.parse())
    assert fields["provider"] == "groq" and fields["fallback_index"] == 1
    assert keys_seen(fake.control.log())[-1] == "sk-groq"


def test_a_key_swap_after_401_does_not_use_up_the_retries(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """max_retries 1: main (picked first: weight 1000 vs 0.001) is rejected and the request moves to spare
    without spending its retry; spare answers 500 (that one retry), then 200."""
    keys = [key("main", weight=1000), key("spare", weight=0.001)]
    gateway = start_gateway({"providers": {"openai": provider(fake.url, keys, max_retries=1)}})
    fake.control.rules({"match": {"key": "sk-main"}, "status": 401})
    fake.control.script({"match": {"key": "sk-spare"}, "status": 500})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert resp.choices[0].message.content
    assert keys_seen(fake.control.log()) == ["sk-main", "sk-spare", "sk-spare"]
    assert extras(resp)["retries"] == 2  # every extra upstream try is counted, the key swap included


def test_a_pinned_key_waits_out_its_own_retry_after(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """Pinned to main, which answers 429 with Retry-After: 1: the retry goes to main again, after 1 s."""
    gateway = start_gateway(keys_config(fake.url, max_retries=1))
    fake.control.script({"match": {"key": "sk-main"}, "status": 429, "retry_after": 1})
    started = time.monotonic()
    resp = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, extra_headers={"x-bf-api-key": "main"}
    )
    assert time.monotonic() - started >= 0.95
    assert extras(resp)["retries"] == 1
    assert keys_seen(fake.control.log()) == ["sk-main", "sk-main"]
