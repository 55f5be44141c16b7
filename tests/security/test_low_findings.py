"""Findings 11-14: client mistakes are 4xx JSON, logs stay one escaped line, count_tokens leaves a trace,
(crash loss: tests/observability_e2e/test_crash_loss_e2e.py)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from bifrost.testing.fake_provider import FakeProvider
from harness import HOST, GatewayFactory, openai_config

from .helpers import CHAT, body_of, chat_bytes, get, post, raw_request, scrape, status_of


def test_client_mistakes_are_4xx_json(fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path) -> None:
    config = openai_config(fake.url, logs_store={"enabled": True, "type": "sqlite",
                                                 "config": {"path": str(tmp_path / "l.db")}})
    gw = start_gateway(config)
    for headers in ([(b"x-bf-api-key", b"\xff\xfe")], [(b"x-request-id", b"\xff" * 300)],
                    [(b"x-bf-eh-x-team", b"\xff")]):
        answer = raw_request(gw.port, chat_bytes(headers))
        assert status_of(answer) < 500, answer[:300]
        if status_of(answer) >= 400:
            assert json.loads(body_of(answer))["error"]["message"]
    status, _, body = get(gw.url + "/api/logs?offset=" + "1" * 23)
    assert status == 400 and json.loads(body)["error"]["param"] == "offset"


def test_http_0_9_and_garbage_get_the_connection_closed_at_once(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(openai_config(fake.url))  # header_read_timeout_seconds: the default 10 s
    for data in (b"GET /\r\n", b"GET /health\n", b"\x00\x01\x02\x03\r\n\r\n", b"HELLO\r\n\r\n"):
        with socket.create_connection((HOST, gw.port)) as sock:
            sock.settimeout(5.0)  # well under the head timeout: closed because it is not HTTP/1.x
            sock.sendall(data)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer == b"" or status_of(answer) == 400, (data, answer[:200])
    assert get(gw.url + "/health")[0] == 200


def test_logs_escape_control_characters_and_malformed_http_is_one_line(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(openai_config(fake.url), log_level="info")
    raw_request(gw.port, chat_bytes(body={"model": "gpt\x1b[31m\x00x", "messages": CHAT["messages"]}))
    raw_request(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
    time.sleep(0.5)  # the log writer batches lines
    gw.stop()
    logs = gw.logs()
    assert "\x1b" not in logs and "\x00" not in logs
    assert "Traceback" not in logs
    lines = [line for line in logs.splitlines() if line.strip()]
    assert all(line.startswith("20") for line in lines), lines  # every line is a timestamped log line
    assert any("Duplicate Content-Length" in line for line in lines)


def test_count_tokens_is_counted_and_logged(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    config: dict[str, Any] = {"providers": {"anthropic": {
        "keys": [{"name": "a", "value": "sk-ant-count-000", "models": ["claude-3-haiku"]}],
        "network_config": {"base_url": fake.url}}}}
    gw = start_gateway(config, log_level="info")
    status, _, body = post(gw.url + "/anthropic/v1/messages/count_tokens",
                           {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and "input_tokens" in json.loads(body)
    families = scrape(gw)
    upstream = [s for s in families["bifrost_upstream_requests"] if s.labels["method"] == "count_tokens"]
    assert upstream and upstream[0].value == 1 and upstream[0].labels["provider"] == "anthropic"
    paths = {s.labels["path"] for s in families["http_requests"]}
    assert "/anthropic/v1/messages/count_tokens" in paths
    time.sleep(0.5)
    assert "method=count_tokens" in gw.logs()
