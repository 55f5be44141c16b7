"""``FakeControl``: a small synchronous client for the fake's control API."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

Script = dict[str, Any]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


class FakeControl:
    """Drive a running fake provider: ``FakeControl("http://127.0.0.1:9999")``."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with _OPENER.open(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def script(self, *scripts: Script) -> None:
        """Queue scripts; each answers one matching request, first in first out."""
        self._call("POST", "/_fake/script", {"scripts": list(scripts)})

    def rules(self, *scripts: Script) -> None:
        """Replace the sticky rules (no arguments: clear them)."""
        self._call("POST", "/_fake/script", {"rules": list(scripts)})

    def default(self, script: Script | None) -> None:
        """Replace the default script (None: back to the built-in behaviour)."""
        self._call("POST", "/_fake/script", {"default": script})

    def reset(self) -> None:
        """Clear queue, rules, default, log and stats."""
        self._call("POST", "/_fake/reset", {})

    def log(self) -> list[dict[str, Any]]:
        """Received provider requests, oldest first (the last 2000)."""
        requests: list[dict[str, Any]] = self._call("GET", "/_fake/log")["requests"]
        return requests

    def last(self) -> dict[str, Any]:
        """The most recent provider request; LookupError when none was received."""
        requests = self.log()
        if not requests:
            raise LookupError("the fake provider has received no requests")
        return requests[-1]

    def stats(self) -> dict[str, int]:
        """``{"total", "in_flight", "max_in_flight", "cancelled"}``."""
        stats: dict[str, int] = self._call("GET", "/_fake/stats")
        return stats
