"""Finding 8: slow and idle clients cannot hold connections open, and running out of file descriptors
logs a line a second instead of a flood of tracebacks.

Each case opens a real socket and waits (bounded) for the gateway to close it; before the fix all of them
were still open after 58 s (aiohttp's keep-alive default is 3,630 s).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import HOST, GatewayFactory, free_port, http_get, openai_config

from .helpers import status_of

TIMEOUTS = {"header_read_timeout_seconds": 1, "keepalive_timeout_seconds": 2, "body_read_timeout_seconds": 2}
WAIT_S = 15.0  # far beyond every timeout above: a socket still open by then was not closed by the gateway


def _closed_by_gateway(sock: socket.socket, trickle: bytes = b"") -> bytes:
    """Read until the gateway closes the connection (optionally sending one byte of `trickle` every 0.3 s)."""
    sock.settimeout(0.3)
    received = b""
    deadline = time.monotonic() + WAIT_S
    sent = 0
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if sent < len(trickle):
                try:
                    sock.sendall(trickle[sent : sent + 1])
                except OSError:
                    return received
                sent += 1
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"connection still open after {WAIT_S}s; received {received[:200]!r}")


def test_idle_partial_trickling_and_stalled_clients_are_closed(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(openai_config(fake.url, client=TIMEOUTS))
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
    # idle: connects and sends nothing
    with socket.create_connection((HOST, gw.port)) as sock:
        assert _closed_by_gateway(sock) == b""
    # a partial head, then silence
    with socket.create_connection((HOST, gw.port)) as sock:
        sock.sendall(head)
        assert _closed_by_gateway(sock) == b""
    # a head trickled one byte at a time, never finished
    with socket.create_connection((HOST, gw.port)) as sock:
        _closed_by_gateway(sock, trickle=head * 3)
    # a full head announcing 1,000 bytes, then 10 and silence: 408 in the route's error shape
    with socket.create_connection((HOST, gw.port)) as sock:
        sock.sendall(head + b"Content-Length: 1000\r\n\r\n" + b'{"model": ')
        answer = _closed_by_gateway(sock)
        assert status_of(answer) == 408, answer[:300]
        assert b"body_read_timeout_seconds" in answer
    # idle keep-alive after a request
    with socket.create_connection((HOST, gw.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: g\r\n\r\n")
        answer = _closed_by_gateway(sock)
        assert status_of(answer) == 200
    assert http_get(gw.url + "/health")[0] == 200  # and everyone else is served meanwhile


def _gateway_with_few_fds(config_path: Path, port: int, log_path: Path, loop: str) -> subprocess.Popen[bytes]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    env["BIFROST_LOOP"] = loop
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bifrost", "--config", str(config_path), "--host", HOST, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, preexec_fn=limit,
        )


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_running_out_of_file_descriptors_logs_a_line_a_second(fake: FakeProvider, tmp_path: Path, loop: str) -> None:
    config: dict[str, Any] = openai_config(fake.url)
    config_path = tmp_path / "config.json"
    config_path.write_text(__import__("json").dumps(config))
    port, log_path = free_port(), tmp_path / "gateway.log"
    proc = _gateway_with_few_fds(config_path, port, log_path, loop)
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while not _up(port):
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
        for _ in range(120):  # more connections than the gateway has descriptors
            try:
                held.append(socket.create_connection((HOST, port), timeout=2))
            except OSError:
                break
        time.sleep(3)  # the accept loop hits EMFILE for these 3 s
        log = log_path.read_text(errors="replace")
        assert "out of system resource" in log  # the limit was reached
        assert "Traceback" not in log, log[:2000]
        assert log.count("out of system resource") <= 5, log[-2000:]
        assert len(log) < 20_000, len(log)
        assert proc.poll() is None
        for sock in held:
            sock.close()
        held.clear()
        # the descriptors are back: the gateway serves again
        deadline = time.monotonic() + 10
        while not _health(port):
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        proc.wait(timeout=30)


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _up(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
