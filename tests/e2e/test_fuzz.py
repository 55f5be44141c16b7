"""Property test: whatever JSON a client POSTs to /v1/chat/completions, the gateway answers 200 or a 4xx
with an OpenAI-shaped body (the fake upstream answers everything it is sent), and keeps running."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, http_get, openai_config

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)

models = st.sampled_from(
    ["gpt-4o-mini", "gpt-4o", "openai/gpt-4o", "groq/llama-3.1-8b-instant", "llama-3.1-8b-instant",
     "local-vllm/x", "nope", "nosuch/model", "", "openai/", "/gpt-4o"]
) | json_values
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "robot", ""]) | json_values
content_parts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "input_audio", "weird"])},
        optional={"text": st.text(max_size=30) | json_values, "image_url": json_values},
    ),
    max_size=3,
)
contents = st.text(max_size=40) | content_parts | json_values
messages = st.fixed_dictionaries({}, optional={"role": roles, "content": contents, "name": json_values})
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "messages": st.lists(messages, max_size=4) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.just({"include_usage": True}) | json_values,
        "temperature": st.floats(-1, 3) | json_values,
        "max_tokens": st.integers(-5, 5000) | json_values,
        "n": st.integers(-1, 3),
        "tools": json_values,
        "fallbacks": st.lists(models, max_size=2) | json_values,
        "brand_new_param": json_values,
    },
)
bodies = json_values | chat_like


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(openai_config(fake_server.url))


def post_raw(url: str, data: bytes) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=20) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def check_answer(sent: bytes, status: int, content_type: str, raw: bytes) -> None:
    context = f"sent {sent[:300]!r} -> {status} {raw[:300]!r}"
    assert status < 500, context
    if content_type.startswith("text/event-stream"):
        assert status == 200, context
        text = raw.decode()
        assert text.endswith("data: [DONE]\n\n"), context
        events = [e for e in text.split("\n\n") if e.strip()][:-1]
        assert events, context
        for event in events:
            assert event.startswith("data: "), context
            chunk = json.loads(event[6:])
            assert "choices" in chunk or "error" in chunk, context
        return
    assert content_type.startswith("application/json"), context
    body = json.loads(raw)
    assert isinstance(body, dict), context
    if status == 200:
        assert isinstance(body.get("choices"), list), context
    else:
        assert isinstance(body.get("error"), dict), context
        assert isinstance(body["error"].get("message"), str) and body["error"]["message"], context


def test_random_json_never_breaks_the_gateway(gateway: GatewayProcess, fake: FakeProvider) -> None:
    url = gateway.v1_url + "/chat/completions"

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies)
    def run(body: Any) -> None:
        data = json.dumps(body).encode()  # may hold NaN/Infinity (not JSON) and huge integers: fine to send
        check_answer(data, *post_raw(url, data))

    run()
    status, health = http_get(gateway.url + "/health")
    assert status == 200, health
    assert json.loads(health)["status"] == "ok"
    assert gateway.alive()


@pytest.mark.parametrize(
    "data",
    [
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "seed": 1' + b"0" * 30 + b"}",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}garbage',
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "x": '
        + b"[" * 2000 + b"]" * 2000 + b"}",
        b"\xff\xfe\x00garbage",
        b"null",
        b'{"model": "gpt-4o-mini", "messages": [{"role": {"name": "user"}, "content": "hi"}]}',
    ],
    ids=["huge-int", "nan", "lone-surrogate", "trailing-garbage", "deep-nesting", "binary", "null", "role-object"],
)
def test_edge_bodies(gateway: GatewayProcess, fake: FakeProvider, data: bytes) -> None:
    check_answer(data, *post_raw(gateway.v1_url + "/chat/completions", data))
    assert http_get(gateway.url + "/health")[0] == 200
