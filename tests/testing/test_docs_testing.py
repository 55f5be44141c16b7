"""docs/testing.md stays true: its worked examples run against a real gateway on the demo config,
and every script field and control-API route is documented there.

An example is a ``<!-- example: NAME -->`` fenced ``sh`` block followed by a
``<!-- expect: KIND -->`` fenced block. The ``sh`` block is run here as written, with a small curl
reader (``-s -S -N -i -X -H -d -o -w``, a ``for i in $(seq N)`` loop piped to ``sort | uniq -c``,
``$FAKE`` and ``http://127.0.0.1:8080`` pointed at this test's fake and gateway). KIND says how
the last command's output is compared: ``json`` / ``http`` (status, headers, JSON body) / ``sse``
(frame by frame) match as a subset where ``"…"`` stands for any value; ``counts`` checks that every
line curl printed is one of the documented lines.
"""

from __future__ import annotations

import http.client
import json
import re
import shlex
import urllib.parse
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider, create_app
from bifrost.testing.fake_provider.script import MATCH_FIELDS, SCRIPT_FIELDS
from harness import GatewayFactory, GatewayProcess
from resilience.helpers import sse_frames

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
DEMO_URL = "http://127.0.0.1:8080"
ANY = "…"
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[\w-]+) -->\s*```sh\n(?P<sh>.*?)\n```\s*"
    r"<!-- expect: (?P<kind>\w+) -->\s*```\w*\n(?P<expect>.*?)\n```",
    re.S,
)
LOOP = re.compile(r"for \w+ in \$\(seq (\d+)\); do\n(.*?)\ndone \| sort \| uniq -c", re.S)


@dataclass
class Example:
    name: str
    sh: str
    kind: str
    expect: str


def examples() -> dict[str, Example]:
    found = {m["name"]: Example(m["name"], m["sh"], m["kind"], m["expect"]) for m in EXAMPLE.finditer(DOC.read_text())}
    assert found, f"no worked examples found in {DOC}"
    return found


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _statements(text: str) -> list[str]:
    """Shell statements: lines joined over ``\\`` continuations and open single quotes; comments dropped."""
    out: list[str] = []
    current = ""
    for line in text.replace("\\\n", " ").split("\n"):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current = f"{current}\n{line}" if current else line
        if current.count("'") % 2 == 0:
            out.append(current)
            current = ""
    assert not current, f"unbalanced quotes in {text!r}"
    return out


def curl(command: str, urls: dict[str, str]) -> tuple[Answer, str]:
    """Run one curl command line; returns the answer and what curl prints to stdout."""
    for placeholder, url in urls.items():
        command = command.replace(placeholder, url)
    args = shlex.split(command)
    assert args[0] == "curl", command
    method, headers, data, url, include, write_out, to_null = None, {}, None, None, False, None, False
    i = 1
    while i < len(args):
        arg = args[i]
        if arg in ("-s", "-S", "-N", "-sS", "-sN"):
            pass
        elif arg == "-i":
            include = True
        elif arg in ("-X", "-H", "-d", "-o", "-w"):
            i += 1
            value = args[i]
            if arg == "-X":
                method = value
            elif arg == "-H":
                name, _, header_value = value.partition(":")
                headers[name.strip()] = header_value.strip()
            elif arg == "-d":
                data = value.encode()
            elif arg == "-o":
                assert value == "/dev/null", command
                to_null = True
            else:
                write_out = value
        else:
            assert not arg.startswith("-"), f"option {arg} not understood by the doc test"
            assert url is None, command
            url = arg
        i += 1
    assert url is not None, command
    answer = request(method or ("POST" if data is not None else "GET"), url, headers, data)
    printed = "" if to_null else answer.body.decode()
    if include:
        head = [f"HTTP/1.1 {answer.status}"] + [f"{k}: {v}" for k, v in answer.headers.items()]
        printed = "\r\n".join(head) + "\r\n\r\n" + printed
    if write_out is not None:
        printed += _write_out(write_out, answer)
    return answer, printed


def _write_out(fmt: str, answer: Answer) -> str:
    fmt = fmt.replace("\\n", "\n").replace("%{http_code}", str(answer.status))
    return re.sub(r"%header\{([^}]+)\}", lambda m: answer.headers.get(m[1].lower(), ""), fmt)


def request(method: str, url: str, headers: dict[str, str], data: bytes | None) -> Answer:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def run_example(example: Example, urls: dict[str, str]) -> tuple[list[Answer], str]:
    """Run the example's commands; returns every answer and the last command's stdout."""
    answers: list[Answer] = []
    printed = ""
    text = example.sh
    loop = LOOP.search(text)
    before = text[: loop.start()] if loop else text
    for statement in _statements(before):
        if re.fullmatch(r"\w+=\S+", statement.strip()):  # FAKE=...: this test sets the URLs itself
            continue
        answer, printed = curl(statement, urls)
        answers.append(answer)
    if loop:
        assert not text[loop.end() :].strip(), "nothing may follow the loop"
        (body,) = _statements(loop[2])
        lines = []
        for _ in range(int(loop[1])):
            answer, out = curl(body, urls)
            answers.append(answer)
            lines.extend(out.splitlines())
        printed = "\n".join(lines)
    return answers, printed


def subset(expected: Any, actual: Any, where: str = "$") -> None:
    """``expected`` is ``actual`` with object fields left out and ``"…"`` for any value."""
    if expected == ANY:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for name, value in expected.items():
            assert name in actual, f"{where}: no field {name!r} in {actual!r}"
            subset(value, actual[name], f"{where}.{name}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            subset(want, got, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def check(example: Example, printed: str) -> None:
    if example.kind == "json":
        subset(json.loads(example.expect), json.loads(printed))
    elif example.kind == "http":
        want_head, _, want_body = example.expect.partition("\n\n")
        got_head, _, got_body = printed.partition("\r\n\r\n")
        want_lines, got_lines = want_head.splitlines(), got_head.split("\r\n")
        assert got_lines[0].split()[1] == want_lines[0].split()[1], got_lines[0]
        got_headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in got_lines[1:])}
        for line in want_lines[1:]:
            name, _, value = line.partition(":")
            assert got_headers.get(name.lower()) == value.strip(), f"header {name}: {got_headers}"
        subset(json.loads(want_body), json.loads(got_body))
    elif example.kind == "sse":
        want, got = sse_frames(example.expect.encode()), sse_frames(printed.encode())
        assert len(got) == len(want), f"{len(got)} frames, documented {len(want)}:\n{printed}"
        for i, ((want_event, want_data), (got_event, got_data)) in enumerate(zip(want, got, strict=True)):
            assert got_event == want_event, f"frame {i}"
            if want_data == "[DONE]":
                assert got_data == want_data, f"frame {i}"
            else:
                subset(json.loads(want_data), json.loads(got_data), f"frame {i}")
    elif example.kind == "counts":
        documented = {line.split(None, 1)[1] for line in example.expect.splitlines() if line.strip()}
        lines = printed.splitlines()
        assert lines and set(lines) <= documented, f"printed {sorted(set(lines))}, documented {sorted(documented)}"
    else:
        raise AssertionError(f"unknown expect kind {example.kind!r}")


@pytest.fixture
def demo_gateway(fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path) -> GatewayProcess:
    """A gateway on the packaged demo config, every provider played by the test's fake (as `bifrost demo`)."""
    config = (files("bifrost") / "examples" / "demo.config.json").read_text(encoding="utf-8")
    env = {"BIFROST_DEMO_UPSTREAM": fake.url, "BIFROST_DEMO_LOGS_DB": str(tmp_path / "demo-logs.db")}
    return start_gateway(config, env=env)


def _script_headers(fake: FakeProvider) -> list[str | None]:
    return [r["headers"].get("x-fake-script") for r in fake.control.log()]


EXAMPLES = ("tool-calls", "failure-status", "fail-rate", "latency", "chunk-delay", "stream-cut")


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example(name: str, fake: FakeProvider, demo_gateway: GatewayProcess) -> None:
    example = examples()[name]
    answers, printed = run_example(example, {"$FAKE": fake.url, DEMO_URL: demo_gateway.url})
    check(example, printed)
    log = fake.control.log()
    if example.kind != "counts":  # the scripted header reached the fake, as x-fake-script
        script = json.loads(re.search(r"x-bf-eh-x-fake-script: (\{.*?\})'", example.sh)[1])
        assert log and all(json.loads(h) == script for h in _script_headers(fake) if h is not None)
        assert all(h is not None for h in _script_headers(fake))
    if name == "tool-calls":
        assert log[-1]["body"]["tools"][0]["function"]["name"] == "get_weather"
        # "The same script on the Anthropic route answers a tool_use block"
        headers = {"Content-Type": "application/json", "anthropic-version": "2023-06-01",
                   "x-bf-eh-x-fake-script": json.dumps(script)}
        body = {"model": "claude-3-sonnet-20240229", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
        answer = request("POST", demo_gateway.url + "/anthropic/v1/messages", headers, json.dumps(body).encode())
        assert answer.status == 200
        want = {"content": [{"type": "tool_use", "input": {"city": "Paris"}}], "stop_reason": "tool_use"}
        subset(want, answer.json())
    elif name == "failure-status":
        assert [r["path"] for r in log] == ["/v1/chat/completions"] * 3  # the first try and two retries
    elif name == "fail-rate":
        assert answers[0].json() == {"queued": 0, "rules": 1, "default": False}
        assert fake.control.stats()["total"] >= 20
        assert all(r["body"]["model"] == "claude-3-sonnet-20240229" for r in log if r["path"] == "/v1/messages")
        assert all(a.status == 200 for a in answers[1:])
    elif name == "latency":
        assert answers[-1].json()["extra_fields"]["latency_ms"] >= 1500 * 0.99  # a floor: the fake sleeps 1.5 s
    elif name == "stream-cut":
        assert len(log) == 1  # after the first chunk the gateway does not retry


def test_every_example_is_tested() -> None:
    assert set(examples()) == set(EXAMPLES)


def test_every_script_field_and_control_route_is_documented() -> None:
    text = DOC.read_text()
    missing = [field for field in sorted(SCRIPT_FIELDS | MATCH_FIELDS) if f"`{field}`" not in text]
    assert not missing, f"docs/testing.md does not describe script field(s) {missing}"
    routes = {
        f"{route.method} {route.resource.canonical}"
        for route in create_app().router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/_fake/") and route.method != "HEAD"
    }
    assert routes, "no control routes found"
    undocumented = [route for route in sorted(routes) if f"`{route}`" not in text]
    assert not undocumented, f"docs/testing.md does not describe control route(s) {undocumented}"


def test_python_snippets_run(fake: FakeProvider, demo_gateway: GatewayProcess) -> None:
    """The page's Python blocks run as written (``client`` is an OpenAI SDK client on the gateway)."""
    blocks = re.findall(r"```python\n(.*?)\n```", DOC.read_text(), re.S)
    assert len(blocks) == 2
    client = openai.OpenAI(base_url=demo_gateway.v1_url, api_key="not-needed", max_retries=0)
    namespace: dict[str, Any] = {"client": client}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["fake"].url.startswith("http://127.0.0.1:")  # the first block's own fake, stopped again
    assert namespace["reply"].choices[0].message.content == "scripted"
    assert fake.control.last()["headers"]["x-fake-script"] == '{"reply": "scripted"}'
