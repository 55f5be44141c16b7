"""Bad input gets a precise OpenAI-shaped error that says what to fix, and the gateway keeps serving.

Also: keys whose environment variable is missing, secrets never leaking, upstream garbage and timeouts.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory, GatewayProcess, openai_config

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HELLO = [{"role": "user", "content": "Hello!"}]
CHAT = {"model": "gpt-4o-mini", "messages": HELLO}
MISSING_VAR = "BIFROST_TEST_MISSING_VAR"
TWO_MB = 2 * 1024 * 1024


def request(
    url: str, body: Any = None, headers: dict[str, str] | None = None, method: str = "POST", timeout: float = 20
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, parsed JSON or raw bytes); ``body`` bytes go as they are, anything else as JSON."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            status, resp_headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, resp_headers, raw = err.code, dict(err.headers), err.read()
    try:
        return status, resp_headers, json.loads(raw)
    except ValueError:
        return status, resp_headers, raw


def assert_openai_error(status: int, body: Any, expected_status: int) -> dict[str, Any]:
    """The OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``; returns ``error``."""
    assert status == expected_status, body
    assert isinstance(body, dict), body
    error = body.get("error")
    assert isinstance(error, dict), body
    assert set(error) >= {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


def assert_no_secret(text: str) -> None:
    for value in KEY_VALUES:
        assert value not in text, f"key value {value!r} leaked"


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    config = openai_config(
        fake_server.url,
        extra_models=["text-embedding-3-small", "gpt-3.5-turbo-instruct"],
        client={"max_request_body_size_mb": 1},
        providers={"openai": {"network_config": {"default_request_timeout_in_seconds": 1}}},
    )
    yield start_module_gateway(config)


def still_serves(gw: GatewayProcess) -> None:
    status, headers, body = request(gw.v1_url + "/chat/completions", CHAT)
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Hello from fake gpt-4o-mini!"
    assert headers["x-bifrost-provider"] == "openai"


@dataclass(frozen=True)
class Case:
    id: str
    body: Any  # bytes as they are, else JSON
    status: int = 400
    param: str | None = None  # error.param, when the error is about one field
    phrases: tuple[str, ...] = ()  # what the message must name (case-insensitive)
    path: str = "/v1/chat/completions"
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    code: str | None = None


def msgs(*messages: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages)}


CASES = [
    Case("malformed-json", b'{"model": "gpt-4o-mini", "messages": [', phrases=("not valid json",)),
    Case("empty-body", b"", phrases=("empty",)),
    Case("json-array", b"[1, 2]", phrases=("json object", "array")),
    Case("json-string", b'"hello"', phrases=("json object", "string")),
    Case("missing-model", {"messages": HELLO}, param="model", phrases=("'model' is required",)),
    Case("model-not-string", {"model": 42, "messages": HELLO}, param="model", phrases=("model",)),
    Case("model-empty", {"model": "", "messages": HELLO}, param="model", phrases=("model",)),
    Case("missing-messages", {"model": "gpt-4o-mini"}, param="messages", phrases=("'messages' is required",)),
    Case("messages-not-list", {"model": "gpt-4o-mini", "messages": "hi"}, param="messages",
         phrases=("messages", "list")),
    Case("empty-messages", msgs(), param="messages", phrases=("non-empty",)),
    Case("message-not-object", msgs("hi"), param="messages[0]", phrases=("messages[0]", "object")),
    Case("bad-role", msgs({"role": "robot", "content": "x"}), param="messages[0].role",
         phrases=("role", "robot", "user")),
    Case("role-not-a-string", msgs({"role": ["user"], "content": "x"}), param="messages[0].role",
         phrases=("role", "user")),
    Case("bad-content-type", msgs({"role": "user", "content": 42}), param="messages[0].content",
         phrases=("content", "string")),
    Case("second-message-bad", msgs({"role": "user", "content": "a"}, {"role": "user", "content": {"x": 1}}),
         param="messages[1].content", phrases=("messages[1]",)),
    Case("stream-not-bool", {**CHAT, "stream": "yes"}, param="stream", phrases=("stream", "true or false")),
    Case("negative-max-tokens", {**CHAT, "max_tokens": -5}, param="max_tokens", phrases=("max_tokens", "positive")),
    Case("n-zero", {**CHAT, "n": 0}, param="n", phrases=("'n'",)),
    Case("temperature-out-of-range", {**CHAT, "temperature": 3.5}, param="temperature",
         phrases=("temperature", "between 0 and 2")),
    Case("temperature-not-number", {**CHAT, "temperature": "hot"}, param="temperature", phrases=("temperature",)),
    Case("tools-not-list", {**CHAT, "tools": {"type": "function"}}, param="tools", phrases=("tools",)),
    Case("fallbacks-not-list", {**CHAT, "fallbacks": "groq/llama-3.1-8b-instant"}, param="fallbacks",
         phrases=("fallbacks", "provider/model")),
    Case("unknown-model", {**CHAT, "model": "gpt-9-ultra"}, status=404, param="model",
         phrases=("gpt-9-ultra", "openai/gpt-4o-mini", "groq/llama-3.1-8b-instant"), code="model_not_found"),
    Case("unknown-provider-prefix", {**CHAT, "model": "nosuch/gpt-4o"}, status=404, param="model",
         phrases=("nosuch", "not configured"), code="model_not_found"),
    Case("model-not-on-provider-key", {**CHAT, "model": "openai/gpt-5-secret"}, status=404, param="model",
         phrases=("gpt-5-secret", "gpt-4o-mini"), code="model_not_found"),
    Case("completions-without-prompt", {"model": "gpt-3.5-turbo-instruct"}, path="/v1/completions",
         param="prompt", phrases=("'prompt' is required",)),
    Case("completions-prompt-number", {"model": "gpt-3.5-turbo-instruct", "prompt": 5}, path="/v1/completions",
         param="prompt", phrases=("prompt",)),
    Case("embeddings-without-input", {"model": "text-embedding-3-small"}, path="/v1/embeddings",
         param="input", phrases=("'input' is required",)),
    Case("embeddings-empty-input", {"model": "text-embedding-3-small", "input": []}, path="/v1/embeddings",
         param="input", phrases=("input", "non-empty")),
    Case("body-over-limit", {**CHAT, "padding": "x" * TWO_MB}, status=413,
         phrases=("max_request_body_size_mb", "1 MB"), code="request_too_large"),
    Case("unknown-route", CHAT, status=404, path="/v1/chat/complete", phrases=("/v1/chat/complete", "/openai/v1")),
    Case("unknown-route-root", CHAT, status=404, path="/api/generate", phrases=("unknown route",)),
    Case("pinned-key-missing", CHAT, headers={"x-bf-api-key": "nosuch"}, param="x-bf-api-key",
         phrases=("nosuch", "main", "spare")),
]


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 15
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request(gateway: GatewayProcess, fake: FakeProvider, case: Case) -> None:
    status, headers, body = request(gateway.url + case.path, case.body, case.headers)
    error = assert_openai_error(status, body, case.status)
    if case.param is not None:
        assert error["param"] == case.param, error
    message = error["message"].lower()
    for phrase in case.phrases:
        assert phrase.lower() in message, f"{phrase!r} not in {error['message']!r}"
    if case.error_type is not None:
        assert error["type"] == case.error_type
    if case.code is not None:
        assert error["code"] == case.code
    assert headers["Content-Type"].startswith("application/json")
    assert_no_secret(json.dumps(body))
    assert fake.control.log() == []  # refused before any upstream call
    still_serves(gateway)


async def test_chunked_body_over_limit(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """No Content-Length: the limit is enforced while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(32):
            yield b"x" * 65536
        yield b'"}]}'

    async with (
        aiohttp.ClientSession() as http,
        http.post(gateway.v1_url + "/chat/completions", data=chunks(),
                  headers={"Content-Type": "application/json"}) as resp,
    ):
        body = await resp.json(content_type=None)
        error = assert_openai_error(resp.status, body, 413)
    assert "max_request_body_size_mb" in error["message"]
    assert fake.control.log() == []
    still_serves(gateway)


def test_body_just_under_limit_is_served(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, _, body = request(gateway.v1_url + "/chat/completions", {**CHAT, "padding": "x" * 900_000})
    assert status == 200, body


def test_content_type_not_json_still_parsed(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """curl -d sends application/x-www-form-urlencoded; a JSON body is still a JSON body."""
    data = json.dumps(CHAT).encode()
    req = urllib.request.Request(gateway.v1_url + "/chat/completions", data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with _OPENER.open(req, timeout=20) as resp:
        assert resp.status == 200


# --- upstream faults ---------------------------------------------------------------------------------


def test_upstream_garbage_is_502(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"malformed": True})
    status, headers, body = request(gateway.v1_url + "/chat/completions", CHAT)
    error = assert_openai_error(status, body, 502)
    assert error["type"] == "upstream_error"
    assert "openai" in error["message"]
    assert headers["x-bifrost-provider"] == "openai"
    assert body["extra_fields"]["provider"] == "openai"
    still_serves(gateway)


def test_upstream_garbage_stream_before_first_chunk_is_502(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"malformed": True})
    status, _, body = request(gateway.v1_url + "/chat/completions", {**CHAT, "stream": True})
    error = assert_openai_error(status, body, 502)
    assert error["type"] == "upstream_error"
    still_serves(gateway)


def test_upstream_timeout_is_504(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 2500})
    status, _, body = request(gateway.v1_url + "/chat/completions", CHAT)
    error = assert_openai_error(status, body, 504)
    assert error["type"] == "timeout"
    assert "default_request_timeout_in_seconds" in error["message"]
    assert body["extra_fields"]["latency_ms"] < 2400
    still_serves(gateway)


def test_upstream_timeout_stream_is_504(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"latency_ms": 2500})
    status, _, body = request(gateway.v1_url + "/chat/completions", {**CHAT, "stream": True})
    assert_openai_error(status, body, 504)
    still_serves(gateway)


# --- keys from missing environment variables; secrets never leak ---------------------------------


@pytest.fixture
def env_gateway(fake: FakeProvider, start_gateway: GatewayFactory) -> GatewayProcess:
    """spare's and mistral's keys name a missing variable; debug logging so leaks would show."""
    config = openai_config(fake.url)
    config["providers"]["openai"]["keys"][1]["value"] = f"env.{MISSING_VAR}"
    config["providers"]["mistral"] = {
        "keys": [{"name": "m", "value": f"env.{MISSING_VAR}", "models": ["mistral-small"]}],
        "network_config": {"base_url": fake.url},
    }
    return start_gateway(config, log_level="debug")


def test_missing_env_var_key(env_gateway: GatewayProcess, fake: FakeProvider) -> None:
    gw = env_gateway
    deadline = time.monotonic() + 5  # start-up lines are written by the background log writer
    while MISSING_VAR not in gw.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    startup = gw.logs()
    assert MISSING_VAR in startup
    assert any(MISSING_VAR in line and "warn" in line.lower() for line in startup.splitlines()), startup

    # the provider's only key is disabled: 401 naming the variable
    status, _, body = request(gw.v1_url + "/chat/completions", {**CHAT, "model": "mistral-small"})
    error = assert_openai_error(status, body, 401)
    assert MISSING_VAR in error["message"]
    assert error["type"] == "authentication_error"

    # pinning the disabled key: 401 naming the variable
    status, _, body = request(gw.v1_url + "/chat/completions", CHAT, {"x-bf-api-key": "spare"})
    error = assert_openai_error(status, body, 401)
    assert MISSING_VAR in error["message"]

    # the usable key still serves
    for _ in range(5):
        status, _, body = request(gw.v1_url + "/chat/completions", CHAT)
        assert status == 200, body
        assert fake.control.last()["headers"]["authorization"] == "Bearer sk-test-main"
    assert [r["body"]["model"] for r in fake.control.log()] == ["gpt-4o-mini"] * 5


def test_no_key_value_in_errors_or_logs(env_gateway: GatewayProcess, fake: FakeProvider) -> None:
    gw = env_gateway
    bodies: list[str] = []

    def send(body: Any, headers: dict[str, str] | None = None) -> int:
        status, _, answer = request(gw.v1_url + "/chat/completions", body, headers)
        bodies.append(json.dumps(answer) if not isinstance(answer, bytes) else answer.decode("utf-8", "replace"))
        return status

    assert send(CHAT) == 200
    assert send({**CHAT, "stream": True}) == 200
    assert send({**CHAT, "model": "nope"}) == 404
    assert send({**CHAT, "model": "mistral-small"}) == 401
    assert send(CHAT, {"x-bf-api-key": "ghost"}) == 400
    assert send(b"{broken") == 400
    fake.control.script({"status": 500, "error_message": "internal error for key sk-test-main"})
    assert send({**CHAT, "model": "gpt-4o"}) == 500
    fake.control.script({"malformed": True})
    assert send({**CHAT, "model": "gpt-4o"}) == 502
    fake.control.script({"stream_error_after": 1, "error_message": "stream broke"})
    assert send({**CHAT, "model": "groq/llama-3.1-8b-instant", "stream": True}) == 200
    # last: an upstream 401 that echoes the key (as OpenAI's "Incorrect API key provided: sk-..." does)
    fake.control.script({"status": 401, "error_message": "Incorrect API key provided: sk-test-main."})
    assert send({**CHAT, "model": "gpt-4o"}) == 401
    for text in bodies:
        assert_no_secret(text)
    assert_no_secret(gw.logs())
    gw.stop()
    assert_no_secret(gw.logs())


def test_stream_error_event_never_holds_the_key(gateway: GatewayProcess, fake: FakeProvider) -> None:
    """An upstream error that echoes the key is redacted in a JSON error (see the test above);
    the same error arriving as a mid-stream event must be redacted too (CONTRACT §6)."""
    fake.control.script({"stream_error_after": 1, "error_message": "Incorrect API key provided: gsk-test."})
    status, _, raw = request(gateway.v1_url + "/chat/completions",
                             {**CHAT, "model": "groq/llama-3.1-8b-instant", "stream": True})
    assert status == 200
    assert isinstance(raw, bytes)
    text = raw.decode()
    assert '"error"' in text and text.endswith("data: [DONE]\n\n")
    assert "Incorrect API key provided" in text
    assert_no_secret(text)
