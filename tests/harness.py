"""The e2e harness: gateway subprocesses on real sockets and the typical config (fixtures in conftest.py).

Import from here (``from harness import GatewayFactory, openai_config``), not from ``conftest``: a second
``conftest.py`` outside a package replaces ``sys.modules["conftest"]`` while pytest collects.

- ``GatewayFactory(workdir)(config)`` runs ``python -m bifrost`` on a free port, waits for ``GET /health``
  and returns a :class:`GatewayProcess`; ``close()`` stops every gateway it started.
- ``openai_config(fake_url, **overrides)`` is the typical config the e2e tests share.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 35.0  # beyond the gateway's drain grace period

# Every secret the typical config holds; tests scan errors and logs for them.
KEY_VALUES = ("sk-test-main", "sk-test-spare", "gsk-test")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET without proxies; (status, body) also for error statuses."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class GatewayProcess:
    """One ``python -m bifrost`` subprocess serving on ``url``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path, config_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.config_path = config_path
        self.url = f"http://{HOST}:{port}"
        self.openai_url = self.url + "/openai"
        self.v1_url = self.url + "/v1"
        self.log_level = "warn"

    def logs(self) -> str:
        """Everything the process wrote to stderr (and stdout) so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then wait for the exit (SIGKILL if it does not come); returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=10)

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(
                    f"gateway exited with code {self.proc.returncode} before becoming healthy; output:\n"
                    + self.logs()
                )
            try:
                status, body = http_get(self.url + "/health", timeout=1.0)
            except OSError as exc:
                last = repr(exc)
            else:
                if status == 200:
                    self._wait_for_startup_report(deadline)
                    return
                last = f"HTTP {status}: {body[:200]!r}"
            time.sleep(0.05)
        self.stop(timeout=5)
        raise AssertionError(
            f"gateway on {self.url} not healthy within {timeout:g}s ({last}); output:\n" + self.logs()
        )


    def _wait_for_startup_report(self, deadline: float) -> None:
        """At info and debug the start-up report ends with "listening on"; it is logged once the port is bound,
        by a background writer, so it may reach the file just after /health answers."""
        if self.log_level not in ("debug", "info"):
            return
        while "listening on" not in self.logs() and time.monotonic() < deadline:
            time.sleep(0.02)


class GatewayFactory:
    """Starts gateways in ``workdir``; ``close()`` stops all of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[GatewayProcess] = []

    def launch(
        self,
        config: Mapping[str, Any] | str,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        log_level: str = "warn",
    ) -> GatewayProcess:
        """Start a gateway without waiting for it (for tests of start-up failures)."""
        n = len(self.started)
        config_path = self.workdir / f"gateway-{n}.json"
        text = config if isinstance(config, str) else json.dumps(config, indent=2)
        config_path.write_text(text, encoding="utf-8")
        log_path = self.workdir / f"gateway-{n}.log"
        port = free_port()
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        command = [
            sys.executable, "-m", "bifrost", "--config", str(config_path),
            "--host", HOST, "--port", str(port), "--log-level", log_level, *args,
        ]
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env
            )
        gateway = GatewayProcess(proc, port, log_path, config_path)
        gateway.log_level = log_level
        self.started.append(gateway)
        return gateway

    def __call__(
        self,
        config: Mapping[str, Any] | str,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        log_level: str = "warn",
    ) -> GatewayProcess:
        """Start a gateway and return once ``GET /health`` answers 200."""
        gateway = self.launch(config, env, args, log_level)
        gateway.wait_healthy()
        return gateway

    def close(self) -> None:
        for gateway in self.started:
            gateway.stop()


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(name), dict):
            _merge(base[name], value)
        else:
            base[name] = copy.deepcopy(value)
    return base


def openai_config(fake_url: str, extra_models: Sequence[str] = (), **overrides: Any) -> dict[str, Any]:
    """The typical config: openai (keys main, spare), groq and the key-less custom local-vllm, all on the fake.

    ``extra_models`` are added to the openai ``main`` key (e.g. an embedding model). ``overrides`` are
    merged in depth, e.g. ``openai_config(url, client={"max_request_body_size_mb": 1})``.
    Backoffs are short so a key cooled down by a scripted 429 is ready again at once.
    """

    def network(**extra: Any) -> dict[str, Any]:
        return {"base_url": fake_url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50, **extra}

    config: dict[str, Any] = {
        "providers": {
            "openai": {
                "keys": [
                    {"name": "main", "value": "sk-test-main", "models": ["gpt-4o-mini", "gpt-4o", *extra_models]},
                    {"name": "spare", "value": "sk-test-spare", "models": ["gpt-4o-mini"]},
                ],
                "network_config": network(),
            },
            "groq": {
                "keys": [{"name": "main", "value": "gsk-test", "models": ["llama-3.1-8b-instant"]}],
                "network_config": network(),
            },
            "local-vllm": {
                "custom_provider_config": {"base_provider_type": "openai", "is_key_less": True},
                "network_config": network(),
            },
        },
    }
    return _merge(config, overrides)


JS_DIR = Path(__file__).resolve().parent / "js"


def node_with_packages(package: str, what: str) -> str:
    """The ``node`` binary once ``tests/js`` has its npm packages (``npm install`` when `package` is missing);
    skips the calling test, printing why, without node/npm or when the install fails."""
    import pytest

    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = f"node or npm is not installed: {what} needs both"
        print(reason)
        pytest.skip(reason)
    if not (JS_DIR / "node_modules" / package / "package.json").exists():
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=JS_DIR, capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode != 0:
            reason = f"npm install failed (exit {done.returncode}): {done.stderr[-2000:]}"
            print(reason)
            pytest.skip(reason)
    return node
