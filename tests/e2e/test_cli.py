"""The real CLI in subprocesses: ``bifrost check``, ``--help``, the start-up report, graceful drain on
SIGTERM and ``--workers`` (CONTRACT §1)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory, http_get, openai_config

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}


def bifrost_command() -> list[str]:
    """The installed console script, else ``python -m bifrost``."""
    script = shutil.which("bifrost")
    return [script] if script else [sys.executable, "-m", "bifrost"]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*bifrost_command(), *args], capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )


def post_chat(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body or CHAT).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


# --- bifrost check -----------------------------------------------------------------------------------


def test_check_good_config(tmp_path: Path) -> None:
    path = write(tmp_path, "good.json", openai_config("http://127.0.0.1:9"))
    done = run_cli("check", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert "config OK" in done.stdout
    assert "openai" in done.stdout and "groq" in done.stdout and "local-vllm" in done.stdout
    for value in KEY_VALUES:
        assert value not in done.stdout + done.stderr


def test_check_accepts_comments_and_trailing_commas(tmp_path: Path) -> None:
    text = """{
      // the docs' snippets carry comments
      "providers": {
        "openai": {"keys": [{"value": "sk-x", "models": ["gpt-4o-mini"], "weight": 1.0,},],},  /* trailing */
      },
    }"""
    done = run_cli("check", "--config", str(write(tmp_path, "c.jsonc", text)))
    assert done.returncode == 0, done.stderr


BROKEN: list[tuple[str, Any, tuple[str, ...]]] = [
    (
        "unknown-field",
        {"providers": {"openai": {"keys": [{"value": "sk-x"}], "network_config": {"base_ulr": "http://x"}}}},
        ("providers.openai.network_config.base_ulr", "did you mean", "base_url"),
    ),
    (
        "wrong-type",
        {"providers": {"openai": {"keys": [{"value": "sk-x", "models": ["m"], "weight": "heavy"}]}}},
        ("providers.openai.keys[0].weight", "number"),
    ),
    (
        "unknown-provider",
        {"providers": {"foo": {"keys": [{"value": "sk-x"}]}}},
        ("providers.foo", "custom_provider_config"),
    ),
    ("missing-providers", {}, ("providers", "required")),
    ("invalid-json", '{"providers": {', ("$", "line 1")),
    (
        "bad-client-value",
        {"providers": {"openai": {"keys": [{"value": "sk-x"}]}}, "client": {"max_request_body_size_mb": -1}},
        ("client.max_request_body_size_mb",),
    ),
]


@pytest.mark.parametrize(("config", "phrases"), [(c, p) for _, c, p in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_check_broken_config(tmp_path: Path, config: Any, phrases: tuple[str, ...]) -> None:
    done = run_cli("check", "--config", str(write(tmp_path, "broken.json", config)))
    assert done.returncode == 2, (done.stdout, done.stderr)
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    assert "sk-x" not in done.stderr


def test_check_reports_every_problem(tmp_path: Path) -> None:
    config = {
        "providers": {
            "openai": {"keys": [{"value": "sk-x", "weight": "heavy"}], "network_config": {"base_ulr": "x"}},
        },
        "client": {"max_request_body_size_mb": -1},
    }
    done = run_cli("check", "--config", str(write(tmp_path, "many.json", config)))
    assert done.returncode == 2
    for path in ("providers.openai.keys[0].weight", "providers.openai.network_config.base_ulr",
                 "client.max_request_body_size_mb"):
        assert path in done.stderr


def test_check_missing_env_var_is_a_warning(tmp_path: Path) -> None:
    config = openai_config("http://127.0.0.1:9")
    config["providers"]["openai"]["keys"][1]["value"] = "env.BIFROST_TEST_MISSING_VAR"
    done = run_cli("check", "--config", str(write(tmp_path, "env.json", config)))
    assert done.returncode == 0, done.stderr
    assert "BIFROST_TEST_MISSING_VAR" in done.stdout + done.stderr
    assert "1 of 2" in done.stdout


def test_check_missing_file(tmp_path: Path) -> None:
    done = run_cli("check", "--config", str(tmp_path / "nope.json"))
    assert done.returncode == 2
    assert "nope.json" in done.stderr


def test_serve_with_broken_config_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", BROKEN[0][1])
    done = run_cli("--config", str(path), "--port", "0")
    assert done.returncode == 2
    assert "providers.openai.network_config.base_ulr" in done.stderr


def test_module_help() -> None:
    done = subprocess.run([sys.executable, "-m", "bifrost", "--help"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    for option in ("--config", "--host", "--port", "--workers", "--log-level", "check"):
        assert option in done.stdout


# --- start-up report ---------------------------------------------------------------------------------


def test_startup_report(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    config = openai_config(fake.url)
    config["providers"]["openai"]["keys"][1]["value"] = "env.BIFROST_TEST_MISSING_VAR"
    gw = start_gateway(config, log_level="info")
    deadline = time.monotonic() + 10
    while "listening on" not in gw.logs() and time.monotonic() < deadline:  # the report is logged once bound
        time.sleep(0.05)
    report = gw.logs()
    lines = {name: [line for line in report.splitlines() if f"provider {name} " in line]
             for name in ("openai", "groq", "local-vllm")}
    assert all(lines.values()), report
    assert "1/2 usable" in lines["openai"][0], report
    assert "gpt-4o-mini" in lines["openai"][0] and "gpt-4o" in lines["openai"][0]
    assert "1/1 usable" in lines["groq"][0] and "llama-3.1-8b-instant" in lines["groq"][0]
    assert "key-less" in lines["local-vllm"][0]
    assert "BIFROST_TEST_MISSING_VAR" in report
    assert str(gw.port) in report
    for value in KEY_VALUES:
        assert value not in report


# --- signals and workers -----------------------------------------------------------------------------


def test_sigterm_drains_in_flight_request(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url))
    fake.control.script({"latency_ms": 1500, "reply": "finished after the signal"})
    result: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            result["answer"] = post_chat(gw.url)
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=slow_request)
    thread.start()
    deadline = time.monotonic() + 10
    while fake.control.stats()["in_flight"] < 1:  # the request has reached the upstream
        assert time.monotonic() < deadline, "the slow request never reached the fake"
        time.sleep(0.02)
    gw.signal(signal.SIGTERM)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert "error" not in result, f"{result.get('error')!r}\n{gw.logs()}"
    status, body = result["answer"]
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "finished after the signal"
    assert gw.wait(timeout=20) == 0, gw.logs()
    assert fake.control.stats()["cancelled"] == 0


def test_sigint_stops_idle_gateway(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url))
    started = time.monotonic()
    gw.signal(signal.SIGINT)
    assert gw.wait(timeout=20) == 0, gw.logs()
    assert time.monotonic() - started < 5  # nothing in flight: no need to wait out the grace period


def test_two_workers_serve(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url), args=["--workers", "2"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post_chat(gw.url), range(24)))
    assert [status for status, _ in answers] == [200] * 24, answers
    assert all(body["choices"][0]["message"]["content"] == "Hello from fake gpt-4o-mini!" for _, body in answers)
    assert len(fake.control.log()) == 24
    status, health = http_get(gw.url + "/health")
    assert status == 200 and json.loads(health)["status"] == "ok"
    assert gw.stop() == 0, gw.logs()
