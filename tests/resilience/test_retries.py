"""Retries (CONTRACT §4): what is retried, how often, how long the gateway waits, and what it never retries."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.core.retry import RETRY_AFTER_CAP_S, backoff_seconds, parse_retry_after
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, free_port

from .helpers import HELLO, REPLY, async_client, client, error_body, extras, key, provider

LLAMA = "llama-3.1-8b-instant"
KEYLESS = {"base_provider_type": "openai", "is_key_less": True}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    url = fake_server.url
    config: dict[str, Any] = {
        "providers": {
            # one key, so a 429 cannot be dodged by taking another key
            "openai": provider(url, [key("only")], max_retries=2),
            "groq": provider(url, [key("groq", [LLAMA])]),  # max_retries left at its default, 0
            "dead": {  # nothing listens there: connect errors
                "custom_provider_config": KEYLESS,
                **provider(f"http://127.0.0.1:{free_port()}", max_retries=2),
            },
            "paced": {  # 3 retries, backoff 100..400 ms
                "custom_provider_config": KEYLESS,
                **provider(url, max_retries=3, retry_backoff_initial_ms=100, retry_backoff_max_ms=400),
            },
            "solo": {  # one upstream call at a time
                "custom_provider_config": KEYLESS,
                **provider(url, max_retries=1),
                "concurrency_and_buffer_size": {"concurrency": 1, "buffer_size": 10},
            },
        }
    }
    yield start_module_gateway(config)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_retryable_status_then_success(status: int, gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": status})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert resp.choices[0].message.content == "Hello from fake gpt-4o-mini!"
    fields = extras(resp)
    assert fields["retries"] == 1 and fields["provider"] == "openai" and fields["fallback_index"] == 0
    assert fake.control.stats()["total"] == 2


def test_two_failures_then_success(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 500}, {"status": 503})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert extras(resp)["retries"] == 2
    assert fake.control.stats()["total"] == 3


def test_rate_limit_looking_body_is_retried(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """An unusual status whose body says "rate limit" is retried like a 429; the same status without it is not."""
    fake.control.script({"status": 409, "error_message": "Rate limit reached for requests; try again later"})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert extras(resp)["retries"] == 1 and fake.control.stats()["total"] == 2
    fake.control.reset()
    fake.control.script({"status": 409, "error_message": "conflict"})
    with pytest.raises(openai.ConflictError):
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert fake.control.stats()["total"] == 1


def test_retries_exhausted_returns_the_upstream_error(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script(*[{"status": 503, "error_message": f"down {i}"} for i in range(3)])
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert info.value.status_code == 503
    assert info.value.response.headers["x-bifrost-provider"] == "openai"
    body = error_body(info.value)
    assert body["error"]["message"] == "down 2"  # the last try's own message
    fields = body["extra_fields"]
    assert fields["provider"] == "openai" and fields["retries"] == 2
    assert [(a["provider"], a["key"], a["status"], a["error"]) for a in fields["attempts"]] == [
        ("openai", "only", 503, f"down {i}") for i in range(3)
    ]
    assert fake.control.stats()["total"] == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, openai.BadRequestError), (404, openai.NotFoundError), (422, openai.UnprocessableEntityError)],
)
def test_client_errors_are_not_retried(
    status: int, error: type[openai.APIStatusError], gateway: GatewayProcess, fake: FakeProvider
) -> None:
    """400, 404, 422: one upstream call, its error as is."""
    fake.control.script({"status": status, "error_message": "no, thanks"})
    with pytest.raises(error) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert error_body(info.value)["error"]["message"] == "no, thanks"
    assert fake.control.stats()["total"] == 1


@pytest.mark.parametrize(
    ("status", "error"), [(401, openai.AuthenticationError), (403, openai.PermissionDeniedError)]
)
def test_rejected_key_is_never_retried(
    status: int, error: type[openai.APIStatusError], fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """With its only key rejected the provider is not asked again with that key, despite max_retries 2;
    later requests get a 401 saying every key was rejected and is cooling down (without an upstream call)."""
    gateway = start_gateway({"providers": {"openai": provider(fake.url, [key("only")], max_retries=2)}})
    fake.control.script({"status": status, "error_message": "Incorrect API key provided"})
    with pytest.raises(error) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert error_body(info.value)["error"]["message"] == "Incorrect API key provided"
    assert fake.control.stats()["total"] == 1
    with pytest.raises(openai.AuthenticationError) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    message = error_body(info.value)["error"]["message"]
    assert "cooling down" in message and "rejected" in message and "only" in message
    assert fake.control.stats()["total"] == 1


def test_no_retries_by_default(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 500})
    with pytest.raises(openai.InternalServerError):
        client(gateway).chat.completions.create(model=f"groq/{LLAMA}", messages=HELLO)
    assert fake.control.stats()["total"] == 1


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int, gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": status, "retry_after": 1})
    started = time.monotonic()
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    elapsed = time.monotonic() - started
    assert extras(resp)["retries"] == 1
    assert 0.95 <= elapsed < 3.0
    log = fake.control.log()
    assert log[1]["time"] - log[0]["time"] >= 0.95


def test_backoff_grows_between_tries(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """Backoff 100..400 ms, equal jitter: the waits are ~100 ms, 100-200 ms, 200-400 ms (+ scheduling slack)."""
    fake.control.rules({"match": {"model": "paced-model"}, "status": 500})
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(model="paced/paced-model", messages=HELLO)
    assert error_body(info.value)["extra_fields"]["retries"] == 3
    times = [r["time"] for r in fake.control.log()]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.095 and gaps[1] >= 0.095 and gaps[2] >= 0.195, gaps
    assert all(gap <= 0.4 + 0.3 for gap in gaps), gaps


def test_connect_errors_are_retried(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="dead/some-model", messages=HELLO)
    assert info.value.status_code == 502
    body = error_body(info.value)
    assert body["error"]["code"] == "upstream_connect_error"
    assert "could not reach dead" in body["error"]["message"]
    assert [a["status"] for a in body["extra_fields"]["attempts"]] == [502, 502, 502]
    assert body["extra_fields"]["retries"] == 2


async def test_backoff_sleep_holds_no_concurrency_slot(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """solo has concurrency 1. A request sleeping 1 s before its retry lets another one through meanwhile."""
    fake.control.script({"status": 503, "retry_after": 1, "match": {"model": "sleepy"}})
    sdk = async_client(gateway)
    started = time.monotonic()
    sleeper = asyncio.create_task(sdk.chat.completions.create(model="solo/sleepy", messages=HELLO))
    while fake.control.stats()["total"] < 1:
        await asyncio.sleep(0.01)
    other = await sdk.chat.completions.create(model="solo/other", messages=HELLO)
    other_done = time.monotonic() - started
    assert other.choices[0].message.content == "Hello from fake other!"
    assert other_done < 0.8, other_done
    resp = await sleeper
    assert extras(resp)["retries"] == 1 and time.monotonic() - started >= 0.95
    assert fake.control.stats()["max_in_flight"] == 1
    await sdk.close()


def test_stream_is_retried_before_its_first_chunk(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 502}, {"cut_after": 0}, {"reply": REPLY})
    stream = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == REPLY
    assert fake.control.stats()["total"] == 3


# --- the backoff arithmetic -------------------------------------------------------------------------


def test_backoff_is_exponential_jittered_and_bounded() -> None:
    for attempt in range(8):
        ceiling = min(2000, 100 * 2**attempt)
        delays = [backoff_seconds(attempt, 100, 2000) for _ in range(300)]
        assert all(max(0.1, ceiling / 2000) <= d <= ceiling / 1000 for d in delays), attempt
        if ceiling > 100:
            assert len(set(delays)) > 100  # jittered, not a fixed step
    assert backoff_seconds(20, 10, 50) <= 0.05


def test_retry_after_wins_but_is_capped() -> None:
    assert backoff_seconds(0, 10, 50, retry_after=2.0) == 2.0
    assert backoff_seconds(3, 10, 50, retry_after=3600.0) == RETRY_AFTER_CAP_S
    assert backoff_seconds(0, 10, 50, retry_after=0.0) <= 0.05  # "0" falls back to the backoff


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    from email.utils import formatdate

    later = parse_retry_after(formatdate(time.time() + 20, usegmt=True))
    assert later is not None and 17 <= later <= 21
