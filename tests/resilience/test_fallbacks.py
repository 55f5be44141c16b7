"""Fallbacks (CONTRACT §4): the request's own list (also via the SDK's extra_body), else the config's;
each with its own retries; never for a request the client must fix nor for a client that left; streams only
before their first chunk; when all fail, the primary's error with every attempt listed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import (
    HELLO,
    REPLY,
    assert_openai_error,
    client,
    error_body,
    extras,
    key,
    models_seen,
    post,
    provider,
    sse_frames,
)

LLAMA = "llama-3.1-8b-instant"
CLAUDE = "claude-3-5-sonnet-20241022"
KEYLESS = {"base_provider_type": "openai", "is_key_less": True}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    url = fake_server.url
    config: dict[str, Any] = {
        "providers": {
            "openai": provider(url, [key("main")], max_retries=1),
            "groq": provider(url, [key("groq", [LLAMA])], max_retries=1),
            "anthropic": provider(url, [key("ant", [CLAUDE])]),
            "local-vllm": {"custom_provider_config": KEYLESS, **provider(url)},
        },
        "fallbacks": {
            "gpt-4o-mini": [f"groq/{LLAMA}"],
            CLAUDE: ["openai/gpt-4o-mini"],
            "*": ["local-vllm/backup-model"],
        },
    }
    yield start_module_gateway(config)


def fail(model: str, status: int = 503, **extra: Any) -> dict[str, Any]:
    """A sticky rule: every request for ``model`` fails with ``status``."""
    return {"match": {"model": model}, "status": status, **extra}


def test_request_fallbacks_via_extra_body(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.rules(fail("gpt-4o"))
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=HELLO, extra_body={"fallbacks": [f"groq/{LLAMA}"]}
    )
    assert raw.headers["x-bifrost-provider"] == "groq"
    resp = raw.parse()
    assert resp.model == LLAMA
    assert resp.choices[0].message.content == f"Hello from fake {LLAMA}!"
    fields = extras(resp)
    assert fields["provider"] == "groq" and fields["fallback_index"] == 1
    assert fields["model_requested"] == "gpt-4o"
    assert fields["retries"] == 1  # openai's one retry; groq answered at once
    log = fake.control.log()
    assert models_seen(log) == ["gpt-4o", "gpt-4o", LLAMA]
    assert all("fallbacks" not in r["body"] for r in log)  # a gateway field, never sent upstream


def test_request_fallbacks_replace_the_configured_ones(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.rules(fail("gpt-4o-mini"))
    resp = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, extra_body={"fallbacks": ["local-vllm/backup-model"]}
    )
    assert extras(resp)["provider"] == "local-vllm"
    assert LLAMA not in models_seen(fake.control.log())


@pytest.mark.parametrize(
    ("model", "served_by", "served_model"),
    [("gpt-4o-mini", "groq", LLAMA), ("gpt-4o", "local-vllm", "backup-model")],
    ids=["own-entry", "star-entry"],
)
def test_config_fallbacks(
    model: str, served_by: str, served_model: str, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules(fail(model, 500))
    raw = client(gateway).chat.completions.with_raw_response.create(model=model, messages=HELLO)
    assert raw.headers["x-bifrost-provider"] == served_by
    resp = raw.parse()
    assert resp.model == served_model
    assert extras(resp)["provider"] == served_by and extras(resp)["fallback_index"] == 1


@pytest.mark.parametrize(
    "failure",
    [{"status": 404}, {"status": 429}, {"status": 500}, {"status": 529}, {"cut_after": 0}, {"malformed": True}],
    ids=["404", "429", "500", "529", "cut", "garbage"],
)
def test_any_failure_but_client_errors_falls_back(
    failure: dict[str, Any], gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules({"match": {"model": "gpt-4o-mini"}, **failure})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert extras(resp)["provider"] == "groq"


def test_each_fallback_gets_its_own_retries(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.rules(fail("gpt-4o-mini", 500))
    fake.control.script({"match": {"model": LLAMA}, "status": 502})
    resp = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    fields = extras(resp)
    assert fields["provider"] == "groq" and fields["retries"] == 2  # one on openai, one on groq
    assert models_seen(fake.control.log()) == ["gpt-4o-mini", "gpt-4o-mini", LLAMA, LLAMA]


def test_chain_of_three_fallbacks(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """gpt-4o -> groq -> anthropic (another wire) -> local-vllm: the last one serves."""
    fake.control.rules(fail("gpt-4o", 500), fail(LLAMA, 503), fail(CLAUDE, 529))
    chain = [f"groq/{LLAMA}", f"anthropic/{CLAUDE}", "local-vllm/backup-model"]
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=HELLO, extra_body={"fallbacks": chain}
    )
    assert raw.headers["x-bifrost-provider"] == "local-vllm"
    resp = raw.parse()
    fields = extras(resp)
    assert fields["provider"] == "local-vllm" and fields["fallback_index"] == 3
    assert resp.model == "backup-model"
    log = fake.control.log()
    assert models_seen(log) == ["gpt-4o", "gpt-4o", LLAMA, LLAMA, CLAUDE, "backup-model"]
    assert log[4]["path"] == "/v1/messages"


@pytest.mark.parametrize("status", [400, 413, 422])
def test_no_fallback_for_a_request_the_client_must_fix(
    status: int, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules(fail("gpt-4o-mini", status, error_message="fix your request"))
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert info.value.status_code == status
    assert error_body(info.value)["error"]["message"] == "fix your request"
    assert models_seen(fake.control.log()) == ["gpt-4o-mini"]


def test_all_fail_returns_the_primary_error_with_every_attempt(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules(
        fail("gpt-4o", 503, error_message="primary is down"),
        fail(LLAMA, 500, error_message="groq is down"),
        fail("backup-model", 429, error_message="backup is busy"),
    )
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(
            model="gpt-4o", messages=HELLO, extra_body={"fallbacks": [f"groq/{LLAMA}", "local-vllm/backup-model"]}
        )
    assert info.value.status_code == 503
    assert info.value.response.headers["x-bifrost-provider"] == "openai"
    body = error_body(info.value)
    assert_openai_error(body)
    assert body["error"]["message"] == "primary is down"
    fields = body["extra_fields"]
    assert fields["provider"] == "openai" and fields["model_requested"] == "gpt-4o"
    assert [(a["provider"], a["model"], a["status"], a["error"]) for a in fields["attempts"]] == [
        ("openai", "gpt-4o", 503, "primary is down"),
        ("openai", "gpt-4o", 503, "primary is down"),
        ("groq", LLAMA, 500, "groq is down"),
        ("groq", LLAMA, 500, "groq is down"),
        ("local-vllm", "backup-model", 429, "backup is busy"),
    ]
    assert fields["retries"] == 2


@pytest.mark.parametrize(
    "failure", [{"status": 503}, {"cut_after": 0}, {"stream_error_after": 0}, {"malformed": True}],
    ids=["503", "cut", "error-event", "garbage"],
)
def test_stream_falls_back_before_its_first_chunk(
    failure: dict[str, Any], gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules({"match": {"model": "gpt-4o-mini"}, **failure}, {"match": {"model": LLAMA}, "reply": REPLY})
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    )
    assert raw.headers["x-bifrost-provider"] == "groq"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert {c.model for c in chunks} == {LLAMA}


async def test_stream_does_not_fall_back_after_its_first_chunk(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    fake.control.rules({"match": {"model": "gpt-4o-mini"}, "reply": REPLY, "cut_after": 2})
    status, headers, raw = await post(
        gateway.openai_url + "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
    )
    assert status == 200 and headers["x-bifrost-provider"] == "openai"
    frames = [data for _, data in sse_frames(raw)]
    assert len(frames) == 4 and frames[-1] == "[DONE]"
    assert_openai_error(frames[2].encode())
    assert models_seen(fake.control.log()) == ["gpt-4o-mini"]  # no retry, no fallback once the client has data


async def test_no_fallback_after_the_client_went_away(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """The primary answers 503 with Retry-After: 1; the client leaves during that wait: nothing more is tried."""
    fake.control.rules(fail("gpt-4o-mini", 503, retry_after=1))
    with pytest.raises(TimeoutError):
        await post(gateway.openai_url + "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO},
                   timeout=0.3)
    await asyncio.sleep(1.5)
    assert models_seen(fake.control.log()) == ["gpt-4o-mini"]


def test_fallbacks_on_the_anthropic_route(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """An Anthropic SDK request for an overloaded Claude is served by the configured OpenAI fallback."""
    fake.control.rules(fail(CLAUDE, 529))
    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="sk-client", max_retries=0, timeout=20)
    raw = sdk.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    assert raw.headers["x-bifrost-provider"] == "openai"
    message = raw.parse()
    block: Any = message.content[0]
    assert block.text == "Hello from fake gpt-4o-mini!"
    assert (message.model_extra or {})["extra_fields"]["fallback_index"] == 1
    assert models_seen(fake.control.log()) == [CLAUDE, "gpt-4o-mini"]


@pytest.mark.parametrize(
    ("fallbacks", "needle"),
    [("groq/x", "must be a list"), ([1], "must be a list"), ([""], "must be a list")],
)
async def test_malformed_request_fallbacks_are_a_400(
    fallbacks: Any, needle: str, gateway: GatewayProcess, fake: FakeProvider
) -> None:
    status, _, raw = await post(
        gateway.openai_url + "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "fallbacks": fallbacks},
    )
    assert status == 400
    err = assert_openai_error(raw)
    assert needle in err["message"] and err["param"] == "fallbacks"
    assert fake.control.stats()["total"] == 0


async def test_fallback_answers_promptly(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """Falling back costs the primary's tries and backoffs (10-50 ms here), nothing more."""
    fake.control.rules(fail("gpt-4o-mini", 500))
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.post(
                gateway.openai_url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}
            ) as resp:
                assert resp.status == 200 and resp.headers["x-bifrost-provider"] == "groq"
    assert time.monotonic() - started < 3.0
