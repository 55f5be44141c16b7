"""Shared by the security tests: raw sockets (bytes no HTTP client would send), scrapes, secret-run checks."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness import HOST, GatewayProcess

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send exact bytes on a fresh connection; everything the gateway answers until it closes or goes quiet."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def chat_bytes(headers: Iterable[tuple[bytes, bytes]] = (), body: dict[str, Any] | None = None,
               path: bytes = b"/v1/chat/completions") -> bytes:
    """A POST with raw header bytes (invalid UTF-8, control characters) that no HTTP library would send."""
    payload = json.dumps(body or CHAT).encode()
    lines = [b"POST " + path + b" HTTP/1.1", b"Host: gateway", b"Content-Type: application/json",
             b"Content-Length: " + str(len(payload)).encode(), b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def post(url: str, body: Any, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def scrape(gw: GatewayProcess, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET /metrics, which must answer 200 and parse with prometheus_client's own parser: family -> samples."""
    status, _, body = get(gw.url + "/metrics", headers)
    assert status == 200, body[:300]
    return {family.name: family.samples for family in text_string_to_metric_families(body.decode())}


def leaked_runs(secret: str, text: str, run: int = 8) -> list[str]:
    """Every run of `run` characters of `secret` that appears in `text` (the whole secret included)."""
    return sorted({secret[i : i + run] for i in range(len(secret) - run + 1) if secret[i : i + run] in text})
