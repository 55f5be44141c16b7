"""A newcomer's first ten minutes: `bifrost init`, the missing-config hint, a busy port, `bifrost demo` with
its request log, the README's JavaScript snippet against the demo, and x-request-id on every answer."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from test_cli import bifrost_command, run_cli
from test_node_sdk import JS_DIR, node_sdk  # noqa: F401  (the fixture)

from bifrost.config.jsonc import loads as jsonc_loads
from bifrost.config.loader import parse_config
from bifrost.config.model import ClientConfig, ConcurrencyConfig, Config, LogsStoreConfig, NetworkConfig
from bifrost.config.starter import starter_text
from bifrost.testing.fake_provider import FakeProvider
from harness import HOST, GatewayFactory, free_port, http_get, openai_config

README = Path(__file__).resolve().parents[2] / "README.md"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "OPENAI_", "ANTHROPIC_"))}
    return {**env, **extra}


# --- bifrost init ------------------------------------------------------------------------------------


def test_init_writes_a_starter_that_passes_check(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    done = run_cli("init", str(path))
    assert done.returncode == 0, done.stderr
    assert f"wrote {path}" in done.stdout
    assert path.read_text(encoding="utf-8") == starter_text()
    assert "//" in starter_text()  # commented

    checked = subprocess.run(
        [*bifrost_command(), "check", "--config", str(path)],
        capture_output=True, text=True, timeout=30, env=_clean_env(), check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("config OK: 2 providers")
    # keys come from env variables: without them, the keys are disabled with a warning naming the variable
    assert "OPENAI_API_KEY is not set" in checked.stdout and "ANTHROPIC_API_KEY is not set" in checked.stdout

    with_keys = subprocess.run(
        [*bifrost_command(), "check", "--config", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
        env=_clean_env(OPENAI_API_KEY="sk-a", ANTHROPIC_API_KEY="sk-ant-b"),
    )
    assert with_keys.returncode == 0 and "warning" not in with_keys.stdout, with_keys.stdout


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{}", encoding="utf-8")
    refused = run_cli("init", str(path))
    assert refused.returncode == 2
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert path.read_text(encoding="utf-8") == "{}"
    forced = run_cli("init", str(path), "--force")
    assert forced.returncode == 0 and path.read_text(encoding="utf-8") == starter_text()


def test_init_defaults_to_config_json_in_the_current_folder(tmp_path: Path) -> None:
    done = subprocess.run(
        [*bifrost_command(), "init"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env=_clean_env(), check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "config.json").read_text(encoding="utf-8") == starter_text()


def test_starter_values_are_the_defaults() -> None:
    """The starter says "every value is the default unless its comment says otherwise": keep it true."""
    data = jsonc_loads(starter_text())
    openai = data["providers"]["openai"]
    network, defaults = openai["network_config"], asdict(NetworkConfig())
    for name, value in network.items():
        assert defaults[name] == value, f"network_config.{name}: starter {value!r}, default {defaults[name]!r}"
    assert openai["concurrency_and_buffer_size"] == asdict(ConcurrencyConfig())
    client_defaults = asdict(ClientConfig())
    for name, value in data["client"].items():
        assert client_defaults[name] == value, f"client.{name}"
    store = data["logs_store"]
    store_defaults = LogsStoreConfig()
    assert store["enabled"] == store_defaults.enabled and store["type"] == store_defaults.type
    assert store["config"]["path"] == store_defaults.path
    assert store["log_retention_days"] == store_defaults.log_retention_days
    config = load_config_text(starter_text())
    assert [k.env_var for p in config.providers.values() for k in p.keys] == ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]


def load_config_text(text: str) -> Config:
    return parse_config(text, env={})


# --- no config, busy port ----------------------------------------------------------------------------


def test_missing_config_names_the_path_and_bifrost_init(tmp_path: Path) -> None:
    done = subprocess.run(
        bifrost_command(), cwd=tmp_path, capture_output=True, text=True, timeout=30, env=_clean_env(), check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "./config.json" in lines[0] and "bifrost init" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_busy_port_is_one_line_and_a_nonzero_exit(tmp_path: Path, busy_port: int, workers: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(openai_config("http://127.0.0.1:9")), encoding="utf-8")
    done = subprocess.run(
        [*bifrost_command(), "--config", str(config), "--port", str(busy_port), "--workers", workers],
        capture_output=True, text=True, timeout=30, env=_clean_env(), check=False,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [f"error: cannot listen on {HOST}:{busy_port}: address already in use"]
    assert "Traceback" not in output and "Unclosed" not in output
    assert "listening" not in output


# --- bifrost demo ------------------------------------------------------------------------------------


@pytest.fixture
def demo() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [*bifrost_command(), "demo", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_clean_env(),
    )
    url = f"http://{HOST}:{port}"
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:  # the demo prints its curl lines once the sample request is answered
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "curl" in line and "/metrics" in line:
            break
    else:
        proc.kill()
        pytest.fail("demo did not finish its sample request:\n" + "".join(lines))
    proc.output = "".join(lines)  # type: ignore[attr-defined]
    try:
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_prints_the_fake_url_and_curl_lines_and_logs_its_request(demo) -> None:
    url, proc = demo
    output = proc.output
    assert re.search(r"fake provider at http://127\.0\.0\.1:\d+", output), output
    assert f"curl {url}/openai/v1/chat/completions" in output
    assert f"curl '{url}/api/logs?limit=5'" in output
    # the sample request is in the request log (SQLite, temporary folder)
    deadline = time.monotonic() + 10
    while True:
        status, body = http_get(url + "/api/logs?limit=5")
        assert status == 200, body
        logs = json.loads(body)["logs"]
        if logs or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert logs and logs[0]["model"] == "gpt-4o-mini" and logs[0]["status"] == 200


def _readme_block(heading: str, language: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start:section.index("```", start)]


def test_readme_javascript_snippet_works_against_the_demo(node_sdk: str, demo, tmp_path: Path) -> None:  # noqa: F811
    url, _ = demo
    snippet = _readme_block("### Migrate: JavaScript", "javascript")
    assert "http://localhost:8080/openai" in snippet
    script = snippet.replace("http://localhost:8080", url) + "\nconsole.log(JSON.stringify(response));\n"
    (tmp_path / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    (tmp_path / "node_modules").symlink_to(JS_DIR / "node_modules")
    (tmp_path / "snippet.mjs").write_text(script, encoding="utf-8")
    env = _clean_env()  # no OPENAI_API_KEY: the snippet must still work
    done = subprocess.run(
        [node_sdk, "snippet.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout.strip().splitlines()[-1])
    assert response["object"] == "chat.completion"
    assert response["choices"][0]["message"]["content"]


# --- x-request-id everywhere ------------------------------------------------------------------------------


def test_every_answer_carries_x_request_id(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    import urllib.request

    gw = start_gateway(openai_config(fake.url))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path in ("/health", "/v1/models", "/openai/models", "/no/such/route"):
        request = urllib.request.Request(gw.url + path, headers={"x-request-id": "rid-" + path.strip("/")})
        try:
            with opener.open(request, timeout=10) as resp:
                headers = resp.headers
        except urllib.error.HTTPError as err:
            headers = err.headers
        assert headers.get("x-request-id") == "rid-" + path.strip("/"), path
        with opener.open(urllib.request.Request(gw.url + "/health"), timeout=10) as resp:
            assert re.fullmatch(r"[0-9a-f]{32}", resp.headers.get("x-request-id", "")), "made when not sent"


def test_workers_print_the_shutdown_lines_on_sigterm(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url), args=["--workers", "2"], log_level="info")
    deadline = time.monotonic() + 20
    while gw.logs().count(" serving") < 2 and time.monotonic() < deadline:  # both workers have their handlers
        time.sleep(0.05)
    assert gw.stop() == 0
    logs = gw.logs()
    assert "listening on http://" in logs and "(2 workers)" in logs
    assert "shutting down 2 workers" in logs
    assert logs.count("shutting down: draining in-flight requests") == 2, logs  # each worker drains
    assert logs.count("INFO  bifrost stopped\n") == 2 and "stopped (2 workers)" in logs, logs
