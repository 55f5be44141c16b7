"""The gateway's own log output (stderr of a real process): format, access-line fields, levels, no secrets."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest
from obs_helpers import HELLO, log_lines, post_json, sdk, user, wait_for_lines

from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory, GatewayProcess, openai_config

MINI, GPT4O, LLAMA = "gpt-4o-mini", "gpt-4o", "llama-3.1-8b-instant"
USAGE = {"prompt_tokens": 11, "completion_tokens": 4}
ACCESS_FIELDS = {
    "id", "route", "method", "stream", "provider", "model", "key", "status", "latency_ms", "upstream_ms",
    "ttft_ms", "tokens_in", "tokens_out", "retries", "fallback",
}  # fmt: skip
TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARN|ERROR)\s+(\S+) (.*)$")
TEXT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def logs_config(fake_url: str, **overrides: Any) -> dict[str, Any]:
    return openai_config(
        fake_url,
        providers={"openai": {"network_config": {"max_retries": 1}}},
        fallbacks={GPT4O: [f"groq/{LLAMA}"]},
        **overrides,
    )


# ---- parsing the two formats -----------------------------------------------------------------------------
def _text_value(raw: str) -> Any:
    if raw.startswith('"'):
        return json.loads(raw)
    if raw == "-":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_text_line(line: str) -> dict[str, Any]:
    """``TIME LEVEL LOGGER msg k=v ...`` -> {"time", "level", "logger", "msg", **fields} (msg: the words
    before the first field)."""
    m = TEXT_LINE.match(line)
    assert m, f"not a text log line: {line!r}"
    stamp, level, logger, rest = m.groups()
    first = TEXT_FIELD.search(rest)
    msg = rest[: first.start()].strip() if first else rest
    fields = {k: _text_value(v) for k, v in TEXT_FIELD.findall(rest[first.start() :] if first else "")}
    return {"time": stamp, "level": level.lower(), "logger": logger, "msg": msg, **fields}


def parse_json_line(line: str) -> dict[str, Any]:
    value = json.loads(line)
    assert isinstance(value, dict), line
    return value


def access_lines(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Access lines (logger bifrost.access, msg "request") grouped by request id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["logger"] == "bifrost.access" and r["msg"] == "request":
            out.setdefault(r["id"], []).append(r)
    return out


# ---- traffic ---------------------------------------------------------------------------------------------
def send_mix(gw: GatewayProcess, fake: FakeProvider, prefix: str) -> dict[str, dict[str, Any]]:
    """A success, a stream, a retried 500, a fallback, an upstream 400; returns what each access line says."""
    client = sdk(gw)
    fake.control.default({"reply": "fine thanks", "usage": USAGE})

    def rid(name: str) -> dict[str, str]:
        return {"x-request-id": f"{prefix}-{name}"}

    raw = client.chat.completions.with_raw_response.create(model=MINI, messages=HELLO, extra_headers=rid("ok"))
    assert raw.headers["x-request-id"] == f"{prefix}-ok"
    stream = client.chat.completions.create(
        model=MINI, messages=HELLO, stream=True, stream_options={"include_usage": True}, extra_headers=rid("stream")
    )
    assert len(list(stream)) > 2
    fake.control.script({"status": 500, "match": {"model": MINI}})
    client.chat.completions.create(model=MINI, messages=HELLO, extra_headers=rid("retry"))
    fake.control.rules({"status": 503, "match": {"model": GPT4O}})
    client.chat.completions.create(model=GPT4O, messages=HELLO, extra_headers=rid("fallback"))
    fake.control.rules()
    fake.control.script({"status": 400, "error_message": "temperature is out of range", "match": {"model": MINI}})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MINI, messages=HELLO, extra_headers=rid("bad"))
    ok = {"route": "openai", "method": "chat", "provider": "openai", "model": MINI, "status": 200}
    return {
        f"{prefix}-ok": {**ok, "stream": False, "tokens_in": 11, "tokens_out": 4, "retries": 0, "fallback": 0},
        f"{prefix}-stream": {**ok, "stream": True, "tokens_in": 11, "tokens_out": 4, "retries": 0, "fallback": 0},
        f"{prefix}-retry": {**ok, "stream": False, "tokens_in": 11, "tokens_out": 4, "retries": 1, "fallback": 0},
        f"{prefix}-fallback": {**ok, "provider": "groq", "model": LLAMA, "stream": False}
        | {"tokens_in": 11, "tokens_out": 4, "retries": 1, "fallback": 1},
        f"{prefix}-bad": {**ok, "status": 400, "stream": False, "tokens_in": 0, "tokens_out": 0}
        | {"retries": 0, "fallback": 0, "error": "temperature is out of range"},
    }


def check_access_lines(records: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    by_id = access_lines(records)
    for rid, want in expected.items():
        lines = by_id.get(rid, [])
        assert len(lines) == 1, f"{rid}: {len(lines)} access lines"
        line = lines[0]
        assert line["level"] == "info"
        assert set(line) >= ACCESS_FIELDS, f"{rid}: missing {ACCESS_FIELDS - set(line)}"
        for name, value in want.items():
            if name == "error":
                assert value in line["error"], (rid, line)
            else:
                assert line[name] == value, (rid, name, line)
        assert isinstance(line["latency_ms"], int | float) and line["latency_ms"] > 0
        assert line["latency_ms"] >= line["upstream_ms"] >= 0
        if line["status"] < 400:
            assert line["key"] in ("main", "spare"), line  # the name of the key that answered, never its value
        if line["stream"]:
            assert isinstance(line["ttft_ms"], int | float) and 0 < line["ttft_ms"] <= line["latency_ms"]
        else:
            assert line["ttft_ms"] is None


# ---- tests -----------------------------------------------------------------------------------------------
def test_info_text_one_access_line_per_request(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(logs_config(fake.url), log_level="info")
    expected = send_mix(gw, fake, "txt")
    lines = wait_for_lines(gw, [f"id={rid}" for rid in expected])
    records = [parse_text_line(line) for line in lines]  # every line of the output is a well-formed log line
    check_access_lines(records, expected)
    assert len(access_lines(records)) == len(expected)  # one line per request, nothing else logged as access
    warns = [r for r in records if r["logger"] == "bifrost.upstream"]
    assert {(r["id"], r["status"]) for r in warns} >= {("txt-retry", 500), ("txt-fallback", 503), ("txt-bad", 400)}
    assert all(r["level"] == "warn" and r["msg"] == "upstream error" for r in warns)
    assert not [r for r in records if r["level"] == "debug"]
    assert "fine thanks" not in gw.logs() and "Hello!" not in gw.logs()  # no content at info


def test_json_lines_parse_with_the_same_fields(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(logs_config(fake.url), log_level="info", args=["--log-format", "json"])
    expected = send_mix(gw, fake, "js")
    lines = wait_for_lines(gw, [f'"id":"{rid}"' for rid in expected])
    records = [parse_json_line(line) for line in lines]  # every line is a JSON object
    for r in records:
        assert {"time", "level", "logger", "msg"} <= set(r), r
        assert TEXT_LINE.match(f"{r['time']} INFO x y"), r["time"]
    check_access_lines(records, expected)
    ok = access_lines(records)["js-ok"][0]
    assert isinstance(ok["status"], int) and isinstance(ok["stream"], bool) and isinstance(ok["tokens_in"], int)
    assert any(r["msg"].startswith("listening on") for r in records)  # start-up lines are JSON too


def test_warn_level_has_no_access_lines_but_upstream_errors(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(logs_config(fake.url), log_level="warn")
    client = sdk(gw)
    client.chat.completions.create(model=MINI, messages=HELLO, extra_headers={"x-request-id": "warn-ok"})
    fake.control.script({"status": 500, "error_message": "upstream exploded", "match": {"model": MINI}})
    client.chat.completions.create(model=MINI, messages=HELLO, extra_headers={"x-request-id": "warn-retry"})
    lines = wait_for_lines(gw, ["warn-retry"])
    records = [parse_text_line(line) for line in lines]
    assert not [r for r in records if r["logger"] == "bifrost.access"]
    assert not [r for r in records if r["level"] in ("info", "debug")]
    [warn] = [r for r in records if r["logger"] == "bifrost.upstream"]
    assert (warn["level"], warn["id"], warn["provider"], warn["status"]) == ("warn", "warn-retry", "openai", 500)
    assert warn["error"] == "upstream exploded"


def test_error_level_has_no_warn_lines(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(logs_config(fake.url), log_level="error")
    fake.control.script({"status": 500, "match": {"model": MINI}})
    sdk(gw).chat.completions.create(model=MINI, messages=HELLO, extra_headers={"x-request-id": "err-retry"})
    assert gw.stop() == 0  # the writer flushes at exit: whatever was logged is in the output now
    records = [parse_text_line(line) for line in log_lines(gw)]
    assert not [r for r in records if r["level"] in ("warn", "info", "debug")], records


@pytest.mark.parametrize("level", ["debug", "info"])
def test_prompt_content_only_at_debug(fake: FakeProvider, start_gateway: GatewayFactory, level: str) -> None:
    gw = start_gateway(logs_config(fake.url), log_level=level)
    fake.control.default({"reply": "the answer is aubergine"})
    client = sdk(gw)
    prompt = user("my secret prompt about a purple elephant")
    client.chat.completions.create(model=MINI, messages=prompt, extra_headers={"x-request-id": "content-1"})
    stream = client.chat.completions.create(
        model=MINI, messages=prompt, stream=True, extra_headers={"x-request-id": "content-2"}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "the answer is aubergine"
    lines = wait_for_lines(gw, ["id=content-2 "])
    text = "\n".join(lines)
    if level == "info":
        assert "purple elephant" not in text and "aubergine" not in text
        return
    records = [parse_text_line(line) for line in lines]
    content = {r["id"]: r for r in records if r["msg"] == "request content"}
    assert set(content) == {"content-1", "content-2"}
    for r in content.values():
        assert r["level"] == "debug" and r["logger"] == "bifrost.access"
        assert "purple elephant" in r["request"] and "aubergine" in r["response"]


def test_disable_content_logging_keeps_content_out_even_at_debug(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(logs_config(fake.url, client={"disable_content_logging": True}), log_level="debug")
    fake.control.default({"reply": "the answer is aubergine"})
    prompt = user("my secret prompt about a purple elephant")
    sdk(gw).chat.completions.create(model=MINI, messages=prompt, extra_headers={"x-request-id": "nc-1"})
    text = "\n".join(wait_for_lines(gw, ["id=nc-1 "]))
    assert "purple elephant" not in text and "aubergine" not in text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_key_value_in_any_log_output(fake: FakeProvider, start_gateway: GatewayFactory, fmt: str) -> None:
    """Debug (the most verbose level), upstreams echoing every configured key in errors, a prompt carrying one."""
    gw = start_gateway(logs_config(fake.url), log_level="debug", args=["--log-format", fmt])
    main, spare, groq = KEY_VALUES
    url = gw.v1_url + "/chat/completions"
    bodies: list[bytes] = []

    def chat(model: str, rid: str, headers: dict[str, str] | None = None, **extra: Any) -> int:
        payload = {"model": model, "messages": HELLO, **extra}
        status, body = post_json(url, payload, {"x-request-id": rid, **(headers or {})})
        bodies.append(body)
        return status

    # a 500 echoing both keys, retried on the other key, and returned
    echo = {"status": 500, "error_message": f"keys {main} and {spare} are both broken", "match": {"model": MINI}}
    fake.control.script(echo, echo)
    assert chat(MINI, "sec-500") == 500
    # the primary echoes its key, the fallback (groq) echoes its own: both fail, the primary's error is returned
    fake.control.script(
        {"status": 503, "error_message": f"overloaded for {main}", "match": {"model": GPT4O}},
        {"status": 503, "error_message": f"overloaded for {main}", "match": {"model": GPT4O}},
        {"status": 500, "error_message": f"bad key {groq}", "match": {"model": LLAMA}},
    )
    assert chat(GPT4O, "sec-fallback") == 503
    # a stream broken after it started, its error naming the key
    fake.control.script({"stream_error_after": 1, "error_message": f"died, key {spare}", "match": {"model": MINI}})
    assert chat(MINI, "sec-stream", stream=True) == 200
    # a client pasting a configured key into its prompt (logged as content at debug)
    assert chat(MINI, "sec-prompt", messages=[{"role": "user", "content": f"is {main} a valid key?"}]) == 200
    # last (it cools the key down): a 401 naming the key, on a request pinned to that key
    fake.control.script({"status": 401, "error_message": f"Incorrect API key: {main}", "match": {"model": MINI}})
    assert chat(MINI, "sec-401", {"x-bf-api-key": "main"}) == 401
    needle = "id=sec-401 " if fmt == "text" else '"id":"sec-401"'
    wait_for_lines(gw, [needle])
    gw.stop()  # everything written, start-up and shutdown lines included
    output = gw.logs()
    assert "request content" in output and "***" in output  # the content and errors were logged, masked
    for secret in KEY_VALUES:
        assert secret not in output, f"{secret!r} in the log output"
        for body in bodies:
            assert secret.encode() not in body, f"{secret!r} in an answer: {body[:300]!r}"
