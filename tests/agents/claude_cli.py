"""The real Claude Code CLI, pinned in ``tests/agents/package.json``, run in print mode against a gateway.

- `claude_command()` installs the package into ``tests/agents/node_modules`` (gitignored; ``.ci/run`` does the
  same with ``npm ci``) when it is not there yet, and skips the calling test with a printed reason only when
  node/npm or the package truly cannot be had. The command is the native ``claude`` its postinstall puts in
  place, or, where install scripts did not run, ``node cli-wrapper.cjs`` (the package's own fallback).
- `run_claude(...)` runs ``claude -p PROMPT`` with ``ANTHROPIC_BASE_URL`` pointing at the gateway, a dummy API
  key, ``HOME`` in a temporary folder and every update, telemetry, error-report, feature-flag and other
  non-essential call switched off. ``HTTP(S)_PROXY`` point at a `ProxyTrap` (``NO_PROXY`` = loopback), so
  anything the CLI tries to reach besides the gateway is caught and recorded instead of going out.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

AGENTS_DIR = Path(__file__).resolve().parent
PACKAGE = "@anthropic-ai/claude-code"
VERSION = "2.1.197"  # the newest Claude Code that runs on Node 20 (package.json pins it exactly)
# What 2.1.197 asks for without --model when it holds an API key (no subscription): its "default model".
DEFAULT_MODEL = "claude-opus-4-8"
MID_CONVERSATION_BETA = "mid-conversation-system-2026-04-07"
CLIENT_KEY = "sk-ant-dummy-client-key"  # what Claude Code sends; the gateway uses its own keys upstream
RUN_TIMEOUT_S = 180

# Everything Claude Code would otherwise reach on its own (names from its docs and its binary).
QUIET_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_UPDATES": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_GROWTHBOOK": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_COST_WARNINGS": "1",
    "DISABLE_LOGIN_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}


def claude_command() -> list[str]:
    """The command that runs the pinned ``claude``; installs the package first when needed."""
    wrapper = AGENTS_DIR / "node_modules" / PACKAGE / "cli-wrapper.cjs"
    return installed_command(PACKAGE, VERSION, "claude", wrapper, VERSION)


def installed_command(package: str, version: str, name: str, node_script: Path, version_prefix: str) -> list[str]:
    """A CLI of tests/agents/package.json: its ``node_modules/.bin/NAME``, else ``node NODE_SCRIPT`` (where
    install scripts did not run); ``npm ci`` first when neither answers ``--version`` with ``version_prefix``.
    Skips the calling test, with the reason printed, when node/npm or the package cannot be had."""
    candidates = [[str(AGENTS_DIR / "node_modules" / ".bin" / name)]]
    node = shutil.which("node")
    if node is not None:
        candidates.append([node, str(node_script)])
    command = _working_command(candidates, version_prefix)
    if command is not None:
        return command
    npm = shutil.which("npm")
    if node is None or npm is None:
        _skip(f"node or npm is not installed: the {name} tests need both (.ci/run installs them)")
    assert npm is not None
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=AGENTS_DIR, capture_output=True, text=True, timeout=600, check=False,
    )
    if done.returncode != 0:
        _skip(f"npm could not install {package}@{version} (exit {done.returncode}): {done.stderr[-2000:]}")
    command = _working_command(candidates, version_prefix)
    if command is None:
        _skip(f"{package}@{version} installed but `{name} --version` does not run on this machine")
    assert command is not None
    return command


def _working_command(candidates: list[list[str]], version_prefix: str) -> list[str] | None:
    with tempfile.TemporaryDirectory() as home:  # a CLI may write its state under HOME even for --version
        for command in candidates:
            if not Path(command[-1]).exists():
                continue
            try:
                done = subprocess.run(
                    [*command, "--version"], capture_output=True, text=True, timeout=60, check=False,
                    env={"PATH": os.environ.get("PATH", ""), "HOME": home, **QUIET_ENV},
                )
            except OSError:
                continue
            if done.returncode == 0 and done.stdout.startswith(version_prefix):
                return command
    return None


def _skip(reason: str) -> None:
    print(reason)
    pytest.skip(reason)


class ProxyTrap:
    """A loopback listener posing as the HTTP(S) proxy: records the first line of every connection, then
    closes it. A CLI that reaches only the gateway (on ``NO_PROXY``) never connects here."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0]
                except OSError:
                    first = b"(nothing read)"
                self.seen.append(first.decode("latin-1"))

    def close(self) -> None:
        self._sock.close()


def run_claude(
    claude: list[str],
    base_url: str,
    workdir: Path,
    prompt: str,
    *,
    trap: ProxyTrap,
    model: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``claude -p PROMPT [--model MODEL]`` in ``workdir/project`` with ``HOME`` at ``workdir/home``."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    project = workdir / "project"
    project.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TMPDIR": str(workdir),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": CLIENT_KEY,
        "HTTP_PROXY": trap.url,
        "HTTPS_PROXY": trap.url,
        "http_proxy": trap.url,
        "https_proxy": trap.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **QUIET_ENV,
        **(extra_env or {}),
    }
    command = [*claude, "-p", prompt]
    if model:
        command += ["--model", model]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL, check=False,
    )
