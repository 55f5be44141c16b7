"""Finding 5: no secret leaves the gateway, whole or as any run of 8 of its characters.

Secrets: provider keys, a client's direct key (allow_direct_keys), extra_headers values and base_url
passwords. Upstreams that echo them in any error field (message, type, code, param; stream error events,
also translated Anthropic -> OpenAI) must not carry them to the client, the logs, /api/logs or /metrics.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import openai

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess

from .helpers import get, leaked_runs, post

OPENAI_KEY = "sk-live-0123456789abcdefghij"
ANTHROPIC_KEY = "sk-ant-api03-ZYXWVUTSRQPONMLK"
ORG_SECRET = "org-secret-5f4e3d2c1b0a"
URL_PASSWORD = "pw-in-the-url-77665544"
DIRECT_KEY = "sk-direct-client-own-key-9988"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, ORG_SECRET, URL_PASSWORD, DIRECT_KEY)


def _config(fake_url: str, tmp: str, **client: Any) -> dict[str, Any]:
    parts = urlsplit(fake_url)
    with_password = f"{parts.scheme}://bifrost:{URL_PASSWORD}@{parts.netloc}"
    return {
        "providers": {
            "openai": {"keys": [{"name": "main", "value": OPENAI_KEY, "models": ["gpt-4o-mini"]}],
                       "network_config": {"base_url": fake_url, "extra_headers": {"X-Org-Secret": ORG_SECRET}}},
            "anthropic": {"keys": [{"name": "ant", "value": ANTHROPIC_KEY, "models": ["claude-3-haiku"]}],
                          "network_config": {"base_url": fake_url}},
            "vllm": {"network_config": {"base_url": with_password}},
        },
        "client": client,
        "logs_store": {"enabled": True, "type": "sqlite", "config": {"path": tmp + "/logs.db"}},
    }


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert not leaked_runs(secret, text), f"{where} holds runs of a secret: {leaked_runs(secret, text)}"


def _everything_the_gateway_said(gw: GatewayProcess, answers: list[str]) -> None:
    for answer in answers:
        assert_clean("a client answer", answer)
    deadline = time.monotonic() + 10
    while True:
        status, _, raw = get(gw.url + "/api/logs?limit=1000")
        logs = json.loads(raw)["logs"]
        if len(logs) >= len(answers) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200 and len(logs) >= len(answers)
    assert_clean("/api/logs", raw.decode())
    for log in logs:
        assert_clean("/api/logs/{id}", get(gw.url + "/api/logs/" + log["id"])[2].decode())
    assert_clean("/metrics", get(gw.url + "/metrics")[2].decode())
    gw.signal()
    gw.wait()
    assert_clean("the gateway's logs", gw.logs())


def test_keys_echoed_in_every_upstream_error_field_never_reach_anyone(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Any
) -> None:
    gw = start_gateway(_config(fake.url, str(tmp_path)), log_level="debug")
    every_field = ["type", "code", "param", "message"]
    answers: list[str] = []
    # OpenAI wire, non-stream: the key in type, code, param and message of a 400
    fake.control.script({"status": 400, "echo_key": every_field, "error_message": f"org {ORG_SECRET} refused"})
    status, _, body = post(gw.v1_url + "/chat/completions", {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "hi"}]})
    assert status == 400
    error = json.loads(body)["error"]
    assert error["type"] and error["code"] and error["param"]  # the fields are kept, scrubbed
    answers.append(body.decode())
    # Anthropic provider, OpenAI client, stream: the key in a stream error event's type
    fake.control.script({"stream_error_after": 1, "echo_key": ["type"]})
    sdk = openai.OpenAI(base_url=gw.openai_url, api_key="x", max_retries=0)
    with sdk.chat.completions.with_streaming_response.create(
        model="anthropic/claude-3-haiku", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as resp:
        streamed = resp.read().decode()
    assert "error" in streamed
    answers.append(streamed)
    # Anthropic route, native: a 400 with the key in type and message
    fake.control.script({"status": 400, "echo_key": ["type", "message"]})
    status, _, body = post(gw.url + "/anthropic/v1/messages", {"model": "claude-3-haiku", "max_tokens": 5,
                                                               "messages": [{"role": "user", "content": "hi"}]})
    assert status == 400
    answers.append(body.decode())
    # base_url password: the upstream echoes its own Authorization back
    fake.control.script({"status": 502, "error_message": f"you sent user bifrost password {URL_PASSWORD}"})
    status, _, body = post(gw.v1_url + "/chat/completions", {"model": "vllm/any", "messages": [
        {"role": "user", "content": "hi"}]})
    assert status == 502
    answers.append(body.decode())
    assert fake.control.log()[-1]["headers"]["authorization"].startswith("Basic ")  # sent as Basic auth
    _everything_the_gateway_said(gw, answers)


def test_a_clients_direct_key_is_never_logged_or_stored(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Any
) -> None:
    gw = start_gateway(_config(fake.url, str(tmp_path), allow_direct_keys=True))
    fake.control.script({"status": 401, "echo_key": ["message", "type", "code"]})
    status, _, body = post(gw.v1_url + "/chat/completions", {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "hi"}]}, {"Authorization": f"Bearer {DIRECT_KEY}"})
    assert status == 401
    assert fake.control.log()[-1]["key"] == DIRECT_KEY  # it was used upstream
    _everything_the_gateway_said(gw, [body.decode()])
