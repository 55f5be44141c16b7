"""Property test over hostile header names, header values and raw bytes, through a real socket.

Whatever arrives: no 500, /health stays 200, /metrics still parses, and every request the gateway answered
200 has its log record stored (one bad request never costs another its record).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, http_get, openai_config

from .helpers import chat_bytes, get, raw_request, scrape

TOKEN = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = (
    st.sampled_from([b"x-bf-prom-team", b"x-bf-api-key", b"x-request-id", b"x-bf-eh-x-custom", b"x-bf-eh-host",
                     b"authorization", b"content-encoding", b"x-bf-mcp-include-tools", b"transfer-encoding"])
    | st.binary(min_size=1, max_size=24)
    | st.text(alphabet=st.sampled_from(list(TOKEN.decode())), min_size=1, max_size=24).map(str.encode)
)
values = st.binary(max_size=120) | st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass"))
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    path = tmp_path_factory.mktemp("fuzz") / "logs.db"
    config = openai_config(
        fake_server.url,
        client={"prometheus_labels": ["team"], "allow_direct_keys": False},
        logs_store={"enabled": True, "type": "sqlite", "flush_interval_ms": 100, "config": {"path": str(path)}},
    )
    yield start_module_gateway(config)


def _send(gw: GatewayProcess, data: bytes, answered: list[str]) -> None:
    answer = raw_request(gw.port, data)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500 or status in (502, 504), answer[:400]  # upstream trouble only, never our own 500
        if status == 200 and data.startswith(b"POST /v1/chat"):
            head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
            for line in head.split("\r\n"):
                if line.lower().startswith("x-request-id:"):
                    answered.append(line.split(":", 1)[1].strip())
    assert http_get(gw.url + "/health")[0] == 200


def test_hostile_headers_and_bytes_break_nothing(gateway: GatewayProcess) -> None:
    answered: list[str] = []  # request ids of every 200, checked against the store at the end

    @SETTINGS
    @given(name=names, value=values)
    def any_header(name: bytes, value: bytes) -> None:
        _send(gateway, chat_bytes([(name, value)]), answered)

    @SETTINGS
    @given(data=st.binary(max_size=400))
    def any_bytes(data: bytes) -> None:
        _send(gateway, data, answered)

    @SETTINGS
    @given(head=st.binary(max_size=200))
    def any_bytes_after_a_request_line(head: bytes) -> None:
        _send(gateway, b"POST /v1/chat/completions HTTP/1.1\r\n" + head + b"\r\n\r\n{}", answered)

    any_header()
    any_bytes()
    any_bytes_after_a_request_line()

    families = scrape(gateway)  # /metrics still parses
    assert "http_requests" in families
    assert answered, "the fuzz cases answered no request with 200"
    missing = answered
    deadline = time.monotonic() + 15
    while missing and time.monotonic() < deadline:
        missing = [rid for rid in missing if get(gateway.url + "/api/logs/" + rid)[0] != 200]
        time.sleep(0.2)
    assert not missing, missing[:10]
    dropped = {s.labels["reason"]: s.value for s in scrape(gateway).get("bifrost_logstore_dropped", [])}
    assert not dropped.get("store_error") and not dropped.get("bad_record"), dropped
    assert json.loads(get(gateway.url + "/api/logs?limit=1")[2])["total"] >= len(answered)
