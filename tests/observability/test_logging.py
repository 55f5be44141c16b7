"""Logging: text/json lines, access-log fields, level, redaction of secrets, content only at debug."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost.observability import logging as obs_logging
from bifrost.observability.logging import access_log, flush_logs, set_secrets, setup_logging
from bifrost.observability.record import Attempt, RequestRecord

SECRET = "sk-test-SECRET-value-1234567890"
ACCESS_FIELDS = (
    "id",
    "route",
    "provider",
    "model",
    "status",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "retries",
    "fallback",
)


def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = dict(
        request_id="req-1",
        started_at=time.time(),
        route="openai",
        method="chat",
        provider="openai",
        model="gpt-4o-mini",
        key_name="main",
        status=200,
        latency_s=0.5,
        upstream_s=0.4,
        prompt_tokens=100,
        completion_tokens=50,
        retries=1,
        fallback_index=0,
        request_body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "PROMPT-MARKER"}]},
        response_content="ANSWER-MARKER",
    )
    base.update(kw)
    return RequestRecord(**base)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    obs_logging.shutdown_logging()
    set_secrets([])
    logger = logging.getLogger("bifrost")
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def capture(level: str | None, fmt: str, background: bool = True) -> io.StringIO:
    buf = io.StringIO()
    setup_logging(level, fmt, stream=buf, background=background)
    return buf


def lines(buf: io.StringIO) -> list[str]:
    flush_logs()
    return [line for line in buf.getvalue().splitlines() if line]


@pytest.mark.parametrize("background", [True, False])
def test_text_access_line(background: bool) -> None:
    buf = capture("info", "text", background)
    access_log(rec(), 0.000045)
    out = lines(buf)
    assert len(out) == 1
    line = out[0]
    assert " INFO  bifrost.access request " in line
    for expected in (
        "id=req-1",
        "route=openai",
        "provider=openai",
        "model=gpt-4o-mini",
        "status=200",
        "latency_ms=500.0",
        "tokens_in=100",
        "tokens_out=50",
        "retries=1",
        "fallback=0",
        "key=main",
        "cost=4.5e-05",
    ):
        assert expected in line.split(" "), expected
    assert "PROMPT-MARKER" not in line and "ANSWER-MARKER" not in line


def test_json_access_line_and_upstream_warning() -> None:
    buf = capture("info", "json")
    r = rec(
        status=502,
        error_type="upstream_error",
        error_message="openai: bad gateway",
        fallback_index=1,
        attempts=[Attempt("openai", "gpt-4o-mini", "main", 502, "bad gateway", 0.2)],
    )
    access_log(r)
    out = [json.loads(line) for line in lines(buf)]
    access = [o for o in out if o["logger"] == "bifrost.access"]
    upstream = [o for o in out if o["logger"] == "bifrost.upstream"]
    assert len(access) == 1 and len(upstream) == 1
    a = access[0]
    assert a["level"] == "info" and a["msg"] == "request"
    for field in ACCESS_FIELDS:
        assert field in a, field
    assert (a["status"], a["fallback"], a["error"]) == (502, 1, "openai: bad gateway")
    u = upstream[0]
    assert (u["level"], u["provider"], u["status"], u["key"], u["error"]) == (
        "warn",
        "openai",
        502,
        "main",
        "bad gateway",
    )
    assert a["time"].endswith("Z")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secret_values_are_redacted(fmt: str) -> None:
    buf = capture("debug", fmt)
    set_secrets([SECRET, None, ""])
    log = logging.getLogger("bifrost.test")
    log.warning("key %s was rejected", SECRET)
    log.info(f"inline {SECRET}")
    try:
        raise RuntimeError(f"upstream said: invalid key {SECRET}")
    except RuntimeError:
        log.exception("call failed")
    access_log(
        rec(
            status=401,
            error_message=f"bad key {SECRET}",
            request_body={"api_key": SECRET},
            attempts=[Attempt("openai", "m", "main", 401, f"Incorrect API key provided: {SECRET}")],
        )
    )
    text = "\n".join(lines(buf))
    assert SECRET not in text
    assert text.count("***") >= 6


def test_level_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    r = rec(status=429, attempts=[Attempt("openai", "m", "main", 429, "rate limited")])
    buf = capture("warn", "text")
    access_log(r)
    out = lines(buf)
    assert len(out) == 1 and "bifrost.upstream upstream error" in out[0] and " WARN " in out[0]

    buf = capture("error", "text")
    access_log(r)
    assert lines(buf) == []

    monkeypatch.setenv("BIFROST_LOG_LEVEL", "debug")
    buf = capture(None, "text")
    assert logging.getLogger("bifrost").getEffectiveLevel() == logging.DEBUG
    monkeypatch.delenv("BIFROST_LOG_LEVEL")
    capture(None, "text")
    assert logging.getLogger("bifrost").getEffectiveLevel() == logging.INFO

    with pytest.raises(ValueError):
        setup_logging("verbose", "text")
    with pytest.raises(ValueError):
        setup_logging("info", "xml")


def test_prompts_and_answers_only_at_debug() -> None:
    buf = capture("info", "json")
    access_log(rec())
    text = "\n".join(lines(buf))
    assert "PROMPT-MARKER" not in text and "ANSWER-MARKER" not in text

    buf = capture("debug", "json")
    access_log(rec())
    out = [json.loads(line) for line in lines(buf)]
    content = [o for o in out if o["msg"] == "request content"]
    assert len(content) == 1 and content[0]["level"] == "debug"
    assert "PROMPT-MARKER" in content[0]["request"] and content[0]["response"] == "ANSWER-MARKER"

    buf = capture("debug", "json")
    access_log(rec(), content=False)  # client.disable_content_logging
    assert "PROMPT-MARKER" not in "\n".join(lines(buf))
